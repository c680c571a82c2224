"""Gridded fixtures built in the tests: the SAFRAN 8 km grid with DRIAS's NetCDF layout and
its quirks, a north-up GeoTIFF, a DRIAS text export; and the independent expected values
(shapely polygon ∩ cell polygon areas, one commune and one cell at a time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NX, NY, RES = 143, 134, 8000.0
X0, Y0 = 60_000.0, 1_617_000.0  # first cell centres (west, south)
SEA_X = 140_000.0  # cells whose centre lies west of this are "sea" (no value)


def safran_field(layer: int, seed: float = 0.0) -> np.ndarray:
    """Values on the grid, south-up (row 0 = southern row), NaN on the western "sea"."""
    i = np.arange(NX)[None, :]
    j = np.arange(NY)[:, None]
    values = 10.0 + ((i * 7 + j * 13) % 37) * 0.75 + layer * 2.5 + seed + np.sin(i * j) * 0.01
    values = np.broadcast_to(values, (NY, NX)).copy()
    values[:, (X0 + np.arange(NX) * RES) < SEA_X] = np.nan
    return values


def lambert_attrs() -> dict:
    return {"grid_mapping_name": "lambert_conformal_conic_1SP", "latitude_of_origin": 52.0,
            "central_meridian": 0.0, "scale_factor": 0.9998774, "false_easting": 600000.0,
            "false_northing": 2200000.0, "epsg": "27572",
            "references": "https://spatialreference.org/ref/epsg/27572/"}


def drias_netcdf(path: Path, *, index_coords: bool = False, with_crs: bool = True,
                 times: int = 3) -> Path:
    """A DRIAS-2020-like daily file: tasmaxAdjust(time, y, x), y south-up, 2-D lat/lon,
    the LambertParisII grid mapping pyproj and GDAL cannot read, DRIAS global attributes;
    with ``index_coords`` x/y hold 1-based cell indices (DRIAS-Eau quirk)."""
    import xarray as xr
    from pyproj import Transformer

    xs = X0 + np.arange(NX) * RES
    ys = Y0 + np.arange(NY) * RES  # ascending: south-up
    xx, yy = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs("EPSG:27572", "EPSG:4326", always_xy=True).transform(xx, yy)
    data = np.stack([safran_field(t) for t in range(times)]).astype(np.float32)
    attrs = {"standard_name": "air_temperature", "long_name": "Daily maximum temperature",
             "units": "K", "coordinates": "lat lon"}
    if with_crs:
        attrs["grid_mapping"] = "LambertParisII"
    x_attrs = {"standard_name": "projection_x_coordinate", "long_name": "x coordinate",
               "units": "m"}
    y_attrs = {"standard_name": "projection_y_coordinate", "long_name": "y coordinate",
               "units": "m"}
    xv, yv = xs, ys
    if index_coords:
        xv, yv = np.arange(1, NX + 1), np.arange(1, NY + 1)
        x_attrs, y_attrs = {"long_name": "x index"}, {"long_name": "y index"}
    ds = xr.Dataset(
        {"tasmaxAdjust": (("time", "y", "x"), data, attrs),
         "lat": (("y", "x"), lat, {"standard_name": "latitude", "units": "degrees_north"}),
         "lon": (("y", "x"), lon, {"standard_name": "longitude", "units": "degrees_east"})},
        coords={"time": ("time", np.arange(times) * 1.0 + 20454.5,
                         {"units": "days since 1950-01-01 00:00:00", "calendar": "standard",
                          "standard_name": "time"}),
                "x": ("x", xv, x_attrs), "y": ("y", yv, y_attrs)},
        attrs={"Conventions": "CF-1.6", "project_id": "DRIAS-2020",
               "driving_model_id": "CNRM-CERFACS-CNRM-CM5", "experiment_id": "rcp85",
               "model_id": "CNRM-ALADIN63", "bc_method_id": "ADAMONT-France",
               "bc_observation_id": "SAFRAN-France-2016", "bc_period_ref": "1980-2011",
               "bc_domain": "FR-France"})
    if with_crs:
        ds["LambertParisII"] = xr.DataArray(np.int32(0), attrs=lambert_attrs())
    ds.to_netcdf(path, engine="h5netcdf",
                 encoding={"tasmaxAdjust": {"_FillValue": np.float32(1e20), "zlib": True}})
    return path


def horizon_netcdf(path: Path) -> Path:
    """An indicator file with a labelled horizon dimension and two indicators."""
    import xarray as xr

    xs = X0 + np.arange(NX) * RES
    ys = Y0 + np.arange(NY) * RES
    horizons = ["REF", "H1", "H2", "H3"]
    nortx = np.stack([safran_field(h) for h in range(4)]).astype(np.float32)
    nortr = np.stack([safran_field(h, seed=5.0) * 2 for h in range(4)]).astype(np.float32)
    ds = xr.Dataset(
        {"NORTX35": (("horizon", "y", "x"), nortx,
                     {"units": "jour", "grid_mapping": "LambertParisII"}),
         "NORTR": (("horizon", "y", "x"), nortr,
                   {"units": "jour", "grid_mapping": "LambertParisII"}),
         "LambertParisII": ((), np.int32(0), lambert_attrs())},
        coords={"horizon": ("horizon", np.array(horizons, dtype=object)),
                "x": ("x", xs, {"standard_name": "projection_x_coordinate", "units": "m"}),
                "y": ("y", ys, {"standard_name": "projection_y_coordinate", "units": "m"})},
        attrs={"Conventions": "CF-1.6"})
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def north_up_geotiff(path: Path, *, crs: str | None = "EPSG:2154", bands: int = 2) -> tuple[
        Path, dict]:
    """A 5 km Lambert-93 GeoTIFF over Gironde, north-up, ``bands`` bands; returns the path and
    its grid (x_min, y_max, res, nx, ny) with the band arrays (north-up)."""
    import rasterio
    from rasterio.transform import from_origin

    x_min, y_max, res, nx, ny = 330_000.0, 6_500_000.0, 5_000.0, 60, 70
    arrays = []
    for b in range(bands):
        r = np.arange(ny)[:, None]
        c = np.arange(nx)[None, :]
        arrays.append((20.0 + ((r * 3 + c * 5) % 23) * 0.5 + b * 4.0 +
                       np.cos(r + c) * 0.01).astype(np.float32))
    profile = {"driver": "GTiff", "width": nx, "height": ny, "count": bands,
               "dtype": "float32", "transform": from_origin(x_min, y_max, res, res),
               "nodata": -9999.0}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        for b, arr in enumerate(arrays):
            dst.write(arr, b + 1)
            dst.set_band_description(b + 1, f"scenario_{b + 1}")
    return path, {"x_min": x_min, "y_max": y_max, "res": res, "nx": nx, "ny": ny,
                  "arrays": arrays}


def drias_text(path: Path, points: list[int] | None = None) -> Path:
    """A DRIAS text export ('#' header, Point;Latitude;Longitude;Contexte;Période;…;) of two
    indicators on every land point (or ``points``) for REF/H1/H2, decimal point values."""
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:27572", "EPSG:4326", always_xy=True)
    land = np.where(~np.isnan(safran_field(0)))
    all_points = (land[0] * NX + land[1]) if points is None else np.array(points)
    lines = ["# Producteur : Météo-France", "# Expérience : DRIAS-2020",
             "# Modèle : CNRM-CM5 / ALADIN63", "# Scénario : RCP8.5",
             "# NORTX35 : Nombre de jours de vagues de chaleur Tx > 35°C (jour)",
             "# NORTAV : Température moyenne journalière (°C)",
             "Point;Latitude;Longitude;Contexte;Période;NORTX35;NORTAV;"]
    for h, period in enumerate(["REF", "H1", "H2"]):
        a = safran_field(h)
        b = safran_field(h, seed=1.0) / 2
        for p in all_points:
            j, i = divmod(int(p), NX)
            lon, lat = tr.transform(X0 + i * RES, Y0 + j * RES)
            lines.append(f"{p};{lat:.5f};{lon:.5f};RCP8.5;{period};{a[j, i]:.6f};"
                         f"{b[j, i]:.6f};")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_stats(geom_wgs84, grid_crs: str, x_min: float, y_max: float, res: float,
                   values_north_up: np.ndarray, threshold: float | None = None) -> dict:
    """Area-weighted mean/min/max/shares/coverage of one commune over one layer, one cell at
    a time with shapely (independent of the engine's vectorised computation)."""
    import shapely
    from pyproj import Transformer
    from shapely.geometry import box

    tr = Transformer.from_crs("EPSG:4326", grid_crs, always_xy=True)
    geom = shapely.transform(geom_wgs84, lambda xy: np.column_stack(tr.transform(*xy.T)))
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    ny, nx = values_north_up.shape
    minx, miny, maxx, maxy = geom.bounds
    total = valid_area = weighted = above = below = 0.0
    vals = []
    for row in range(ny):
        top = y_max - row * res
        if top < miny or top - res > maxy:
            continue
        for col in range(nx):
            left = x_min + col * res
            if left > maxx or left + res < minx:
                continue
            area = geom.intersection(box(left, top - res, left + res, top)).area
            if area <= 0:
                continue
            total += area
            v = values_north_up[row, col]
            if np.isnan(v):
                continue
            valid_area += area
            weighted += area * v
            vals.append(v)
            if threshold is not None:
                above += area * (v > threshold)
                below += area * (v < threshold)
    out = {"coverage": valid_area / geom.area, "area_in_grid": total}
    if valid_area:
        out.update(mean=weighted / valid_area, min=min(vals), max=max(vals))
        if threshold is not None:
            out.update(share_above=above / valid_area, share_below=below / valid_area)
    return out
