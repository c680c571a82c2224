"""The clip mode: the cells meeting the perimeter, others masked, as NetCDF or GeoTIFF."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ckanext.dataclic.extract.grid.engine import extract_grid

from . import grid_fixtures as gf

CLI = [sys.executable, "-m", "ckanext.dataclic.extract.cli"]


def cells_meeting(geom_wgs84, x_min=56_000.0, y_max=2_685_000.0, res=8000.0):
    """North-up (row, col) of the SAFRAN cells whose intersection with the perimeter has an
    area, one cell at a time."""
    import shapely
    from pyproj import Transformer
    from shapely.geometry import box

    tr = Transformer.from_crs("EPSG:4326", "EPSG:27572", always_xy=True)
    geom = shapely.make_valid(shapely.transform(
        geom_wgs84, lambda xy: np.column_stack(tr.transform(*xy.T))))
    minx, miny, maxx, maxy = geom.bounds
    found = set()
    for row in range(int((y_max - maxy) // res), int((y_max - miny) // res) + 1):
        for col in range(int((minx - x_min) // res), int((maxx - x_min) // res) + 1):
            cell = box(x_min + col * res, y_max - (row + 1) * res, x_min + (col + 1) * res,
                       y_max - row * res)
            if geom.intersection(cell).area > 0:
                found.add((row, col))
    return found


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    return gf.drias_netcdf(tmp_path_factory.mktemp("clip") / "tasmaxAdjust_day.nc")


def test_netcdf_clip_keeps_variables_attributes_and_crs(daily, ref, bordeaux, tmp_path):
    import xarray as xr
    from pyproj import CRS

    out = tmp_path / "bm.nc"
    extract_grid(daily, bordeaux, out, referential=ref, mode="clip", cache_dir=tmp_path / "c")
    meeting = cells_meeting(bordeaux.geometry)
    with xr.open_dataset(out) as ds, xr.open_dataset(daily) as src:
        assert ds.attrs["bc_method_id"] == "ADAMONT-France"
        var = ds["tasmaxAdjust"]
        assert var.attrs["units"] == "K" and var.attrs["grid_mapping"] == "LambertParisII"
        gm = ds["LambertParisII"].attrs
        assert gm["grid_mapping_name"] == "lambert_conformal_conic_1SP"
        assert CRS.from_wkt(gm["crs_wkt"]).to_epsg() == 27572
        assert "lat" in ds and ds["lat"].ndim == 2
        assert [str(t)[:19] for t in ds["time"].values] == [
            str(t)[:19] for t in src["time"].values]
        xs, ys = ds["x"].values, ds["y"].values
        kept = set()
        for j, y in enumerate(ys):
            for i, x in enumerate(xs):
                row, col = int((2_685_000 - y) // 8000), int((x - 56_000) // 8000)
                value = var.values[1, j, i]
                if not np.isnan(value):
                    kept.add((row, col))
                    original = src["tasmaxAdjust"].sel(x=x, y=y).values[1]
                    assert value == original
        assert kept == meeting
        rows = {r for r, _ in meeting}
        cols = {c for _, c in meeting}
        assert len(ys) == max(rows) - min(rows) + 1 and len(xs) == max(cols) - min(cols) + 1


def test_geotiff_clip_from_a_text_export(ref, tmp_path):
    import rasterio

    text = gf.drias_text(tmp_path / "export.txt")
    commune = ref.resolve("commune:33063")
    out = tmp_path / "bdx.tif"
    proc = subprocess.run([*CLI, "extract", str(text), "-t", "commune:33063", "--mode", "clip",
                           "-o", str(out)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    meeting = cells_meeting(commune.geometry)
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 27572
        assert src.count == 6
        assert src.descriptions[0] == "NORTX35|RCP8.5|REF"
        assert src.descriptions[5] == "NORTAV|RCP8.5|H2"
        left, top = src.transform.c, src.transform.f
        assert (left - 56_000) % 8000 == 0 and (2_685_000 - top) % 8000 == 0
        band = src.read(2)  # NORTX35 at H1
        field = np.round(gf.safran_field(1), 6)[::-1]
        kept = set()
        for r in range(src.height):
            for c in range(src.width):
                row = int((2_685_000 - top) // 8000) + r
                col = int((left - 56_000) // 8000) + c
                if not np.isnan(band[r, c]):
                    kept.add((row, col))
                    assert band[r, c] == pytest.approx(field[row, col], rel=1e-6)
        assert kept == meeting


def test_clip_to_an_unknown_format_leaves_nothing(daily, ref, bordeaux, tmp_path):
    from ckanext.dataclic.extract.errors import ExtractionError

    with pytest.raises(ExtractionError, match="NetCDF"):
        extract_grid(daily, bordeaux, tmp_path / "bm.csv", referential=ref, mode="clip",
                     cache_dir=tmp_path / "c")
    assert list(tmp_path.glob("*bm*")) == []
