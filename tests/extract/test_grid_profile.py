"""Profiles of gridded files: CRS from DRIAS's grid mapping, south-up y, 2-D lat/lon,
index coordinates, labels; and clear errors when the CRS is missing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ckanext.dataclic.extract.errors import ExtractionError
from ckanext.dataclic.extract.grid.profile import GridOverrides, GridProfile, detect_grid_profile

from . import grid_fixtures as gf

CLI = [sys.executable, "-m", "ckanext.dataclic.extract.cli"]
SAFRAN_GRID = {"crs": "EPSG:27572", "x_min": 56000.0, "y_max": 2685000.0, "dx": 8000.0,
               "dy": 8000.0, "nx": 143, "ny": 134}


def test_drias_netcdf_profile(tmp_path):
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    path = gf.drias_netcdf(tmp_path / "tasmax.nc")
    # The quirk: pyproj cannot read DRIAS's grid mapping as CF...
    with pytest.raises(CRSError):
        CRS.from_cf(gf.lambert_attrs())
    profile = detect_grid_profile(path)
    # ...the profile still finds Lambert II étendu and the exact SAFRAN grid.
    assert profile.crs == "EPSG:27572" and "LambertParisII" in profile.crs_source
    assert profile.grid.to_dict() == SAFRAN_GRID
    assert profile.y_south_up is True
    assert profile.variable_names() == ["tasmaxAdjust"]  # lat/lon are not variables
    assert profile.dimensions == {"time": ["2006-01-01T12:00:00", "2006-01-02T12:00:00",
                                           "2006-01-03T12:00:00"]}
    assert any("2-D lat" in n for n in profile.notes)
    again = GridProfile.from_dict(json.loads(profile.to_json()))
    assert again.to_dict() == profile.to_dict()


def test_index_coordinates_are_georeferenced_on_the_safran_grid(tmp_path):
    profile = detect_grid_profile(gf.drias_netcdf(tmp_path / "sim2.nc", index_coords=True))
    assert profile.index_base == 1
    assert profile.grid.to_dict() == SAFRAN_GRID


def test_indicator_file_labels_and_variable_choice(tmp_path):
    path = gf.horizon_netcdf(tmp_path / "ind.nc")
    profile = detect_grid_profile(path)
    assert profile.variable_names() == ["NORTX35", "NORTR"]
    assert profile.dimensions == {"horizon": ["REF", "H1", "H2", "H3"]}
    chosen = detect_grid_profile(path, GridOverrides(variables=["NORTR"]))
    assert chosen.variable_names() == ["NORTR"]


def test_text_export_and_geotiff_profiles(tmp_path):
    text = detect_grid_profile(gf.drias_text(tmp_path / "export.txt"))
    assert text.format == "drias-text" and text.grid.to_dict() == SAFRAN_GRID
    assert text.dimensions == {"contexte": ["RCP8.5"], "periode": ["REF", "H1", "H2"]}
    assert text.variable("NORTAV").units == "°C"
    path, _ = gf.north_up_geotiff(tmp_path / "l93.tif")
    tif = detect_grid_profile(path)
    assert tif.crs == "EPSG:2154" and tif.dimensions == {"band": ["scenario_1", "scenario_2"]}
    assert (tif.grid.x_min, tif.grid.y_max, tif.grid.dx, tif.grid.nx) == (330000, 6500000,
                                                                          5000, 60)


def test_text_export_whose_points_are_not_on_the_grid(tmp_path):
    path = gf.drias_text(tmp_path / "export.txt", points=[5000, 5001])
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1].replace(";RCP8.5;", ";RCP8.5;").split(";")
    lines[-1][1] = "10.0"  # a latitude far from the cell of its point
    lines[-1] = ";".join(lines[-1])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ExtractionError, match="do not match the SAFRAN 8 km grid"):
        detect_grid_profile(path)


def test_missing_crs_is_named(tmp_path):
    nc = gf.drias_netcdf(tmp_path / "nocrs.nc", with_crs=False)
    with pytest.raises(ExtractionError) as err:
        detect_grid_profile(nc)
    message = str(err.value)
    assert "No usable CRS" in message and "no grid_mapping variable" in message
    assert "--crs EPSG:27572" in message
    assert detect_grid_profile(nc, GridOverrides(crs="EPSG:27572")).crs == "EPSG:27572"
    tif, _ = gf.north_up_geotiff(tmp_path / "nocrs.tif", crs=None)
    with pytest.raises(ExtractionError, match="no coordinate reference system"):
        detect_grid_profile(tif)


def test_console_script_profile_and_missing_crs(tmp_path):
    nc = gf.drias_netcdf(tmp_path / "tasmax.nc")
    proc = subprocess.run([*CLI, "profile", str(nc)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["crs"] == "EPSG:27572"
    bad = gf.drias_netcdf(tmp_path / "nocrs.nc", with_crs=False)
    proc = subprocess.run([*CLI, "extract", str(bad), "-t", "commune:33063", "-o",
                           str(tmp_path / "o.csv")], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: No usable CRS in nocrs.nc")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.csv").exists()


def test_model_calendar_keeps_date_labels(tmp_path):
    """A 360-day model calendar (EURO-CORDEX HadGEM runs) still gives dates as labels."""
    import numpy as np
    import xarray as xr

    path = gf.drias_netcdf(tmp_path / "hadgem.nc", times=2)
    with xr.open_dataset(path, decode_times=False) as ds:
        ds = ds.load()
    ds["time"] = ("time", np.array([1829.5, 1830.5]),
                  {"units": "days since 2045-01-01", "calendar": "360_day"})
    ds.to_netcdf(tmp_path / "hadgem360.nc", engine="h5netcdf")
    profile = detect_grid_profile(tmp_path / "hadgem360.nc")
    assert profile.dimensions["time"] == ["2050-01-30T12:00:00", "2050-02-01T12:00:00"]
