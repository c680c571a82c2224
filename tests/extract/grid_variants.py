"""Real-world gridded layouts built in the tests, over Bordeaux Métropole: a 0.1° longitude/
latitude grid (E-OBS / Copernicus style) in its variants, packed int16 NetCDF, a rotated-pole
(EURO-CORDEX) grid, GeoTIFFs with nodata north-up and south-up. Each builder returns the
file and the values north-up (NaN where the file has no value) for expected_stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# 0.1° cells: lon -1.5 .. 0.1, lat 44.4 .. 45.4 (edges); sea west of lon -0.75.
LON0, LAT_TOP, STEP, NLON, NLAT = -1.5, 45.4, 0.1, 16, 10
SEA_LON = -0.75


def lonlat_values(layer: int = 0) -> np.ndarray:
    """Values north-up (row 0 = northern row), NaN over the "sea" (west) and on the cells
    around Le Bouscat (33069) so that commune has no value at all."""
    r = np.arange(NLAT)[:, None]
    c = np.arange(NLON)[None, :]
    values = 12.0 + ((r * 5 + c * 3) % 11) * 0.9 + layer * 1.5 + np.sin(r * c) * 0.01
    values = np.broadcast_to(values, (NLAT, NLON)).copy()
    lon_centres = LON0 + (np.arange(NLON) + 0.5) * STEP
    values[:, lon_centres < SEA_LON] = np.nan
    return values


def blank_cells(values: np.ndarray, geom, lon0: float, lat_top: float, step: float) -> None:
    """NaN on every cell the geometry's bounding box meets (in place)."""
    minx, miny, maxx, maxy = geom.bounds
    c0, c1 = int(np.floor((minx - lon0) / step)), int(np.ceil((maxx - lon0) / step))
    r0, r1 = int(np.floor((lat_top - maxy) / step)), int(np.ceil((lat_top - miny) / step))
    values[r0:r1, c0:c1] = np.nan


RING = 3600  # 0.1° columns of a whole 0..360 longitude ring


def ring_360(values: np.ndarray) -> np.ndarray:
    """The regional ``values`` placed on a whole 0..360 ring (global files are stored that
    way: columns from longitude 0 eastwards); elsewhere another pattern."""
    ring = np.broadcast_to(20.0 + np.arange(RING)[None, :] % 17 * 0.3, (NLAT, RING)).copy()
    cols = np.round(((LON0 + (np.arange(NLON) + 0.5) * STEP) % 360.0 - STEP / 2) / STEP)
    ring[:, cols.astype(int)] = values
    return ring


def lonlat_netcdf(path: Path, values: np.ndarray, *, lat_descending: bool = True,
                  lon_360: bool = False, calendar: str = "standard",
                  days: tuple[float, float] = (15.0, 45.0)) -> Path:
    """tg(time, latitude, longitude), 2 time steps, E-OBS attributes; ``values`` north-up
    of layer 0 (layer 1 = values + 1.5); with ``lon_360`` a whole 0..360 ring."""
    import xarray as xr

    lons = LON0 + (np.arange(NLON) + 0.5) * STEP
    if lon_360:
        values, lons = ring_360(values), (np.arange(RING) + 0.5) * STEP
    lats = LAT_TOP - (np.arange(NLAT) + 0.5) * STEP  # north first
    data = np.stack([values, values + 1.5]).astype(np.float32)
    if not lat_descending:
        lats, data = lats[::-1], data[:, ::-1, :]
    ds = xr.Dataset(
        {"tg": (("time", "latitude", "longitude"), data,
                {"units": "Celsius", "long_name": "mean temperature"})},
        coords={"time": ("time", np.array(days),
                         {"units": "days since 2000-01-01", "calendar": calendar,
                          "standard_name": "time"}),
                "latitude": ("latitude", lats, {"units": "degrees_north",
                                                "standard_name": "latitude"}),
                "longitude": ("longitude", lons, {"units": "degrees_east",
                                                  "standard_name": "longitude"})},
        attrs={"Conventions": "CF-1.4", "source": "E-OBS-like test grid"})
    ds.to_netcdf(path, engine="h5netcdf")
    return path


L93 = {"x_min": 400_000.0, "y_max": 6_440_000.0, "res": 4_000.0, "nx": 14, "ny": 12}


def l93_values(layer: int = 0) -> np.ndarray:
    r = np.arange(L93["ny"])[:, None]
    c = np.arange(L93["nx"])[None, :]
    return 5.0 + ((r * 7 + c * 3) % 13) * 1.25 + layer * 2.0 + np.zeros((L93["ny"], L93["nx"]))


def packed_netcdf(path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A packed Lambert-93 file as data centres write them: int16 ``tas(time, y, x)`` with
    scale_factor/add_offset, a _FillValue and another missing_value; its ``crs`` scalar
    variable (crs_wkt), ``time_bnds``/``x_bnds``/``y_bnds``, a 360_day calendar, and a 2-D
    ``altitude(y, x)`` beside it. Returns the file and the decoded values north-up."""
    import xarray as xr
    from pyproj import CRS

    g = L93
    xs = g["x_min"] + (np.arange(g["nx"]) + 0.5) * g["res"]
    ys = g["y_max"] - (np.arange(g["ny"]) + 0.5) * g["res"]
    scale, offset, fill, missing = 0.01, 10.0, -32767, -9999
    decoded = np.stack([l93_values(t) for t in range(3)])
    raw = np.round((decoded - offset) / scale).astype(np.int16)
    raw[:, 3, 4] = fill
    raw[:, 5, 6:9] = missing
    expected = np.round(raw.astype(np.float64)) * scale + offset
    expected[raw == fill] = np.nan
    expected[raw == missing] = np.nan
    altitude = (np.arange(g["ny"] * g["nx"]).reshape(g["ny"], g["nx"]) * 3.0).astype(
        np.float32)
    days = np.array([15.0, 45.0, 75.0])
    ds = xr.Dataset(
        {"tas": (("time", "y", "x"), raw,
                 {"units": "degC", "grid_mapping": "crs", "scale_factor": scale,
                  "add_offset": offset, "_FillValue": np.int16(fill),
                  "missing_value": np.int16(missing)}),
         "altitude": (("y", "x"), altitude, {"units": "m", "grid_mapping": "crs"}),
         "time_bnds": (("time", "bnds"), np.stack([days - 15, days + 15], axis=1)),
         "x_bnds": (("x", "bnds"), np.stack([xs - 2000, xs + 2000], axis=1)),
         "y_bnds": (("y", "bnds"), np.stack([ys + 2000, ys - 2000], axis=1)),
         "crs": ((), np.int32(0), {"crs_wkt": CRS("EPSG:2154").to_wkt(),
                                   "grid_mapping_name": "lambert_conformal_conic"})},
        coords={"time": ("time", days, {"units": "days since 2050-01-01",
                                        "calendar": "360_day", "bounds": "time_bnds"}),
                "x": ("x", xs, {"standard_name": "projection_x_coordinate", "units": "m",
                                "bounds": "x_bnds"}),
                "y": ("y", ys, {"standard_name": "projection_y_coordinate", "units": "m",
                                "bounds": "y_bnds"})})
    ds.to_netcdf(path, engine="h5netcdf", encoding={"tas": {"dtype": "int16"}})
    return path, {"tas": expected, "altitude": altitude.astype(np.float64)}


# EURO-CORDEX's rotated pole.
ROTATED = {"grid_mapping_name": "rotated_latitude_longitude",
           "grid_north_pole_latitude": 39.25, "grid_north_pole_longitude": -162.0}


def rotated_netcdf(path: Path, *, with_mapping: bool = True) -> tuple[Path, dict]:
    """tas(rlat, rlon) on a 0.11° rotated-pole grid around Bordeaux; returns the file and
    (crs, x_min, y_max, res, values north-up)."""
    import xarray as xr
    from pyproj import CRS, Transformer

    crs = CRS.from_cf(ROTATED)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(-0.6, 44.85)
    res, n = 0.11, 10
    x_min = round(x / res) * res - n / 2 * res
    y_max = round(y / res) * res + n / 2 * res
    rlon = x_min + (np.arange(n) + 0.5) * res
    rlat = y_max - (np.arange(n) + 0.5) * res
    r = np.arange(n)[:, None]
    c = np.arange(n)[None, :]
    values = 14.0 + ((r * 3 + c * 7) % 9) * 0.6 + np.zeros((n, n))
    attrs = {"units": "K"}
    data_vars = {}
    if with_mapping:
        attrs["grid_mapping"] = "rotated_pole"
        data_vars["rotated_pole"] = ((), np.int32(0), dict(ROTATED))
    data_vars["tas"] = (("rlat", "rlon"), values.astype(np.float32), attrs)
    ds = xr.Dataset(data_vars, coords={
        "rlon": ("rlon", rlon, {"standard_name": "grid_longitude", "units": "degrees",
                                "axis": "X"}),
        "rlat": ("rlat", rlat, {"standard_name": "grid_latitude", "units": "degrees",
                                "axis": "Y"})})
    ds.to_netcdf(path, engine="h5netcdf")
    return path, {"crs": crs.to_wkt(), "x_min": x_min, "y_max": y_max, "res": res,
                  "values": values}


def geotiff(path: Path, values: np.ndarray, *, south_up: bool = False,
            nodata: float = -9999.0, packed: bool = False) -> Path:
    """A Lambert-93 GeoTIFF of ``values`` (north-up, NaN = nodata) on the L93 grid; stored
    bottom row first with a positive y pixel size when ``south_up``; as int16 with a GDAL
    scale 0.01 / offset 10 when ``packed`` (``values`` must be multiples of 0.01)."""
    import rasterio
    from affine import Affine

    g = L93
    dtype = "int16" if packed else "float32"
    if packed:
        nodata = -32768
        values = np.where(np.isnan(values), np.nan, np.round((values - 10.0) / 0.01))
    data = np.where(np.isnan(values), nodata, values).astype(dtype)
    if south_up:
        transform = Affine(g["res"], 0, g["x_min"], 0, g["res"],
                           g["y_max"] - g["ny"] * g["res"])
        data = data[::-1]
    else:
        transform = Affine(g["res"], 0, g["x_min"], 0, -g["res"], g["y_max"])
    with rasterio.open(path, "w", driver="GTiff", width=g["nx"], height=g["ny"], count=1,
                       dtype=dtype, crs="EPSG:2154", transform=transform,
                       nodata=nodata) as dst:
        dst.write(data, 1)
        if packed:
            dst.scales, dst.offsets = (0.01,), (10.0,)
    return path
