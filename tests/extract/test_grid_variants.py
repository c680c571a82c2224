"""Real-world gridded layouts (E-OBS / Copernicus longitude-latitude grids, packed NetCDF,
EURO-CORDEX rotated pole, GeoTIFF nodata and south-up, DRIAS text quirks): per-commune
values against the independent shapely computation of grid_fixtures.expected_stats."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import shapely

from ckanext.dataclic.extract.errors import ExtractionError
from ckanext.dataclic.extract.grid.engine import extract_grid
from ckanext.dataclic.extract.grid.profile import detect_grid_profile

from . import grid_fixtures as gf
from . import grid_variants as gv


def table(path: Path) -> dict[tuple, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    dims = [k for k in rows[0] if k not in ("level", "code", "name", "variable",
                                            "statistic", "value")]
    return {(r["code"], r["variable"], *(r[d] for d in dims), r["statistic"]): r["value"]
            for r in rows}


def assert_commune(values, code, key, want):
    for stat in ("mean", "min", "max", "coverage"):
        got = values[(code, *key, stat)]
        expected = want.get(stat)
        if expected is None:
            assert got == "", (code, key, stat, got)
        else:
            assert math.isclose(float(got), expected, rel_tol=1e-6, abs_tol=1e-9), (
                code, key, stat, got, expected)


def check_all(values, ref, communes, key, crs, x_min, y_max, res, north_up, shift=0.0):
    """Every commune against the independent computation; returns the expectations."""
    out = {}
    for code in communes:
        geom = ref.commune_geometry(code)
        if shift:
            geom = shapely.affinity.translate(geom, xoff=shift)
        want = gf.expected_stats(geom, crs, x_min, y_max, res, north_up)
        assert_commune(values, code, key, want)
        out[code] = want
    return out


@pytest.fixture(scope="module")
def lonlat_values(ref):
    values = gv.lonlat_values()
    gv.blank_cells(values, ref.commune_geometry("33069"), gv.LON0, gv.LAT_TOP, gv.STEP)
    return values


@pytest.mark.parametrize("lat_descending,lon_360", [(True, False), (False, False),
                                                    (True, True), (False, True)])
def test_longitude_latitude_grids_in_every_orientation(ref, bordeaux, lonlat_values, tmp_path,
                                                       lat_descending, lon_360):
    src = gv.lonlat_netcdf(tmp_path / "tg_ens_mean_0.1deg.nc", lonlat_values,
                           lat_descending=lat_descending, lon_360=lon_360)
    out = tmp_path / "out.csv"
    result = extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
    assert result.profile.crs == "EPSG:4326"
    values = table(out)
    times = sorted({k[2] for k in values})
    assert times == ["2000-01-16", "2000-02-15"]
    x_min, layer = gv.LON0, lonlat_values + 1.5
    if lon_360:  # the ring starts at longitude 0; the communes lie at 359.x
        x_min, layer = 0.0, gv.ring_360(lonlat_values) + 1.5
    wants = check_all(values, ref, bordeaux.communes, ("tg", times[1]), "EPSG:4326", x_min,
                      gv.LAT_TOP, gv.STEP, layer, shift=360.0 if lon_360 else 0.0)
    # The coast: communes partly over the sea cells keep the mean of their land cells.
    partial = [c for c, w in wants.items() if 0 < w["coverage"] < 0.999]
    assert "33281" in partial  # Mérignac, half over the "sea"
    # A commune over no valid cell at all has no value and is reported.
    assert wants["33069"]["coverage"] == 0 and values[("33069", "tg", times[0], "mean")] == ""
    empty = {c for c, w in wants.items() if w["coverage"] == 0}
    assert "33069" in empty and set(result.report.communes_without_value) == empty


def test_packed_int16_with_fill_and_missing_values_bounds_and_360_day_calendar(
        ref, bordeaux, tmp_path):
    src, decoded = gv.packed_netcdf(tmp_path / "tas_packed.nc")
    profile = detect_grid_profile(src)
    # Only data variables are offered: not the bounds, not the crs variable.
    assert profile.variable_names() == ["tas", "altitude"]
    assert profile.variable("tas").dims == ["time"] and profile.variable("altitude").dims == []
    assert profile.dimensions["time"] == ["2050-01-16", "2050-02-16", "2050-03-16"]
    assert profile.crs == "EPSG:2154"
    out = tmp_path / "out.csv"
    extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
    values = table(out)
    g = gv.L93
    for t, label in enumerate(profile.dimensions["time"]):
        wants = check_all(values, ref, bordeaux.communes, ("tas", label), "EPSG:2154",
                          g["x_min"], g["y_max"], g["res"], decoded["tas"][t])
    # The fill and missing cells are left out of the means and lower the coverage.
    assert any(0 < w["coverage"] < 0.999 for w in wants.values())
    check_all(values, ref, bordeaux.communes, ("altitude", ""), "EPSG:2154", g["x_min"],
              g["y_max"], g["res"], decoded["altitude"])


def test_a_rotated_pole_grid_is_read_in_its_own_crs(ref, bordeaux, tmp_path):
    src, grid = gv.rotated_netcdf(tmp_path / "tas_EUR-11_rotated.nc")
    out = tmp_path / "out.csv"
    extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
    values = table(out)
    check_all(values, ref, bordeaux.communes, ("tas",), grid["crs"], grid["x_min"],
              grid["y_max"], grid["res"], grid["values"])


def test_a_rotated_grid_without_its_mapping_is_refused(ref, bordeaux, tmp_path):
    src, _ = gv.rotated_netcdf(tmp_path / "tas_rotated_nomap.nc", with_mapping=False)
    with pytest.raises(ExtractionError) as err:
        extract_grid(src, bordeaux, tmp_path / "out.csv", referential=ref,
                     cache_dir=tmp_path / "c")
    text = str(err.value)
    assert "rotated" in text and "grid_mapping" in text
    assert not (tmp_path / "out.csv").exists()


def test_geotiff_with_nodata_north_up_and_south_up_give_the_same_values(ref, bordeaux,
                                                                        tmp_path):
    values = gv.l93_values()
    values[2:4, 3:6] = np.nan
    values[7, :] = np.nan
    g = gv.L93
    results = {}
    for south_up in (False, True):
        src = gv.geotiff(tmp_path / f"grid_{south_up}.tif", values, south_up=south_up)
        out = tmp_path / f"out_{south_up}.csv"
        extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
        got = table(out)
        variable = next(iter(got))[1]
        check_all(got, ref, bordeaux.communes, (variable,), "EPSG:2154", g["x_min"],
                  g["y_max"], g["res"], values)
        results[south_up] = {k[0:1] + k[2:]: v for k, v in got.items()}
    assert results[False] == results[True]


def test_a_packed_geotiff_gives_its_scaled_values(ref, bordeaux, tmp_path):
    values = gv.l93_values()  # multiples of 0.25: exact once packed by 0.01
    values[2:4, 3:6] = np.nan
    src = gv.geotiff(tmp_path / "packed.tif", values, packed=True)
    out = tmp_path / "out.csv"
    extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
    g = gv.L93
    check_all(table(out), ref, bordeaux.communes, ("packed",), "EPSG:2154", g["x_min"],
              g["y_max"], g["res"], values)


def test_model_calendars_keep_their_dates(tmp_path):
    values = gv.lonlat_values()
    for calendar, second in (("noleap", "2000-03-01"), ("360_day", "2000-02-30"),
                             ("standard", "2000-02-29")):
        src = gv.lonlat_netcdf(tmp_path / f"{calendar}.nc", values, calendar=calendar,
                               days=(15.0, 59.0))
        assert detect_grid_profile(src).dimensions["time"] == ["2000-01-16", second]


def test_drias_text_in_windows_1252_with_decimal_commas_and_stray_lines(ref, bordeaux,
                                                                       tmp_path):
    plain = gf.drias_text(tmp_path / "plain.txt")
    lines = plain.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Point;"))
    quirky = ["", "# Fichier généré le 06/12/2026 — °C", *lines[:header + 1], "", "#"]
    for n, line in enumerate(lines[header + 1:]):
        cells = line.split(";")
        numbers = [c.replace(".", ",") for c in cells]  # decimal commas, labels kept
        quirky.append(";".join(numbers[:3] + cells[3:5] + numbers[5:]))
        if n % 500 == 0:
            quirky += ["", "   ", "# commentaire"]
    quirky += ["", "# fin du fichier", ""]
    cp = tmp_path / "indicateurs_cp1252.txt"
    cp.write_bytes("\r\n".join(quirky).encode("cp1252"))
    outs = []
    for src in (plain, cp):
        out = tmp_path / f"{src.stem}.csv"
        extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
        outs.append(table(out))
    assert outs[0] == outs[1]
    check_all(outs[1], ref, ["33063", "33281"], ("NORTX35", "RCP8.5", "H1"), "EPSG:27572",
              56_000.0, 2_685_000.0, 8_000.0, gf.safran_field(1)[::-1])


def test_lat_lon_axes_without_units_are_read_as_degrees(ref, bordeaux, lonlat_values,
                                                        tmp_path):
    import xarray as xr

    full = gv.lonlat_netcdf(tmp_path / "full.nc", lonlat_values)
    with xr.open_dataset(full) as ds:
        bare = ds.rename({"latitude": "lat", "longitude": "lon"}).load()
    for name in ("lat", "lon"):
        bare[name].attrs = {}
    bare.to_netcdf(tmp_path / "bare.nc", engine="h5netcdf")
    outs = []
    for src in (full, tmp_path / "bare.nc"):
        out = tmp_path / f"{src.stem}.csv"
        extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
        outs.append(table(out))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("units,calendar,labels", [
    ("months since 2000-01-01", "standard", ["2001-04", "2003-10"]),
    ("months since 2000-01-01", "360_day", ["2001-04-01", "2003-10-01"]),  # cftime decodes
    ("years since 1950-01-01", "standard", ["1965", "1995"]),
])
def test_monthly_and_yearly_times_get_readable_labels(ref, bordeaux, tmp_path, units,
                                                      calendar, labels):
    import xarray as xr

    src = gv.lonlat_netcdf(tmp_path / "base.nc", gv.lonlat_values())
    with xr.open_dataset(src, decode_times=False) as ds:
        monthly = ds.load()
    monthly["time"].attrs.update(units=units, calendar=calendar)
    monthly.to_netcdf(tmp_path / "monthly.nc", engine="h5netcdf")
    assert detect_grid_profile(tmp_path / "monthly.nc").dimensions["time"] == labels
    out = tmp_path / "out.csv"
    extract_grid(tmp_path / "monthly.nc", bordeaux, out, referential=ref,
                 cache_dir=tmp_path / "c")
    assert sorted({k[2] for k in table(out)}) == labels


def test_a_latitude_longitude_grid_mapping_and_time_last_give_the_same_values(
        ref, bordeaux, lonlat_values, tmp_path):
    import xarray as xr

    plain = gv.lonlat_netcdf(tmp_path / "plain.nc", lonlat_values)
    with xr.open_dataset(plain) as ds:
        cordex = ds.load()
    cordex["crs"] = xr.DataArray(np.int32(0), attrs={"grid_mapping_name": "latitude_longitude"})
    cordex["tg"] = cordex["tg"].transpose("latitude", "longitude", "time")
    cordex["tg"].attrs["grid_mapping"] = "crs"
    cordex.to_netcdf(tmp_path / "cordex.nc", engine="h5netcdf")
    profile = detect_grid_profile(tmp_path / "cordex.nc")
    assert profile.crs == "EPSG:4326" and profile.variable_names() == ["tg"]
    outs = []
    for src in (plain, tmp_path / "cordex.nc"):
        out = tmp_path / f"{src.stem}.csv"
        extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
        outs.append(table(out))
    assert outs[0] == outs[1]


def test_a_crs_contradicted_by_the_2d_lat_lon_is_refused(tmp_path):
    import xarray as xr

    from ckanext.dataclic.extract.grid.profile import GridOverrides

    nc = gf.drias_netcdf(tmp_path / "sans_crs.nc", with_crs=False, times=1)
    # The right CRS agrees with the file's own 2-D lat/lon, even when some masked cells
    # hold 0/0 instead of their position…
    with xr.open_dataset(nc) as ds:
        holed = ds.load()
    holed["lat"][:, :5] = 0.0
    holed["lon"][:, :5] = 0.0
    holed.to_netcdf(tmp_path / "holed.nc", engine="h5netcdf")
    for path in (nc, tmp_path / "holed.nc"):
        profile = detect_grid_profile(path, GridOverrides(crs="EPSG:27572"))
        assert "2-D latitude/longitude agree with the grid" in profile.notes
    # …a wrong one would place every commune on the wrong cells: refused, naming why.
    with pytest.raises(ExtractionError) as err:
        detect_grid_profile(nc, GridOverrides(crs="EPSG:2154"))
    assert "2-D lat/lon" in str(err.value) and "do not match" in str(err.value)


def test_cells_without_any_coordinate_are_not_guessed(tmp_path):
    import xarray as xr

    xr.Dataset({"t": (("y", "x"), np.ones((12, 10)))}).to_netcdf(tmp_path / "bare.nc",
                                                                 engine="h5netcdf")
    with pytest.raises(ExtractionError) as err:
        detect_grid_profile(tmp_path / "bare.nc")
    assert "cannot be georeferenced" in str(err.value)


def test_broken_grid_files_are_named_clearly(ref, bordeaux, tmp_path):
    import xarray as xr

    (tmp_path / "text.nc").write_text("not a grid\n", encoding="utf-8")
    xr.Dataset({"t": (("lat", "lon"), np.ones((1, 4)))},
               coords={"lat": [44.8], "lon": [-0.7, -0.6, -0.5, -0.4]}).to_netcdf(
        tmp_path / "one_row.nc", engine="h5netcdf")
    full = gv.lonlat_netcdf(tmp_path / "full.nc", gv.lonlat_values())
    (tmp_path / "truncated.nc").write_bytes(full.read_bytes()[:3000])
    for name, words in (("text.nc", "is not a NetCDF file"),
                        ("one_row.nc", "single cell along lat"),
                        ("truncated.nc", "Cannot read truncated.nc as NetCDF")):
        out = tmp_path / f"{name}.csv"
        with pytest.raises(ExtractionError) as err:
            extract_grid(tmp_path / name, bordeaux, out, referential=ref,
                         cache_dir=tmp_path / "c")
        assert words in str(err.value)
        assert not out.exists() and not list(tmp_path.glob(f"*{name}*.tmp*"))


def test_a_cut_of_a_0_360_product_across_greenwich(ref, bordeaux, tmp_path):
    """Longitudes 358.55 … 359.95, 0.05 … (a rolled or index-cut 0..360 file), with 2-D
    lat/lon: the same values as the -180..180 file."""
    import xarray as xr

    values = gv.lonlat_values()
    plain = gv.lonlat_netcdf(tmp_path / "plain.nc", values)
    with xr.open_dataset(plain) as ds:
        wrapped = ds.load()
    wrapped = wrapped.assign_coords(longitude=wrapped.longitude % 360.0)
    lon2, lat2 = np.meshgrid(wrapped.longitude.values, wrapped.latitude.values)
    wrapped["lon"] = (("latitude", "longitude"), lon2)
    wrapped["lat"] = (("latitude", "longitude"), lat2)
    assert wrapped.longitude.values[0] > 358 and wrapped.longitude.values[-1] < 1
    wrapped.to_netcdf(tmp_path / "wrapped.nc", engine="h5netcdf")
    profile = detect_grid_profile(tmp_path / "wrapped.nc")
    assert "2-D latitude/longitude agree with the grid" in profile.notes
    outs = []
    for src in (plain, tmp_path / "wrapped.nc"):
        out = tmp_path / f"{src.stem}.csv"
        extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
        outs.append(table(out))
    assert outs[0].keys() == outs[1].keys()
    for key, value in outs[0].items():  # the axis went through % 360: last-digit noise
        other = outs[1][key]
        assert value == other or math.isclose(float(value), float(other), rel_tol=1e-9), key


@pytest.mark.parametrize("delimiter", ["\t", ","])
def test_drias_text_resaved_by_a_spreadsheet_with_tabs_or_commas(ref, bordeaux, tmp_path,
                                                                 delimiter):
    plain = gf.drias_text(tmp_path / "plain.txt")
    lines = plain.read_text(encoding="utf-8").splitlines()
    resaved = [line if line.startswith("#") else line.replace(";", delimiter)
               for line in lines]
    other = tmp_path / "resaved.csv"
    other.write_text("\n".join(resaved) + "\n", encoding="utf-8")
    outs = []
    for src in (plain, other):
        out = tmp_path / f"{src.stem}.out.csv"
        extract_grid(src, bordeaux, out, referential=ref, cache_dir=tmp_path / "c")
        outs.append(table(out))
    assert outs[0] == outs[1]
