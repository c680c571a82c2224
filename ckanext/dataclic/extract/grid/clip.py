"""The ``clip`` mode: the cells that meet the perimeter, as NetCDF or GeoTIFF.

The output covers the box of those cells; cells of the box outside the perimeter are
masked (NaN / nodata). A NetCDF input keeps its variables, attributes and grid mapping
(completed with ``crs_wkt`` and ``spatial_ref`` so that GDAL and pyproj read the CRS);
other inputs are written as CF NetCDF from the profile.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from .profile import GridProfile
from .stats import layer_count


def _crs_attrs(crs: str) -> dict[str, Any]:
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    attrs: dict[str, Any] = {}
    with contextlib.suppress(Exception):  # no CF form: the WKT below is enough
        attrs.update({k: v for k, v in parsed.to_cf().items() if k != "crs_wkt"})
    wkt = parsed.to_wkt()
    attrs["crs_wkt"] = wkt
    attrs["spatial_ref"] = wkt
    epsg = parsed.to_epsg()
    if epsg:
        attrs["epsg"] = str(epsg)
    return attrs


def clip_netcdf_input(path: Path, profile: GridProfile, mask: Any,
                      window: tuple[int, int, int, int], variables: list[str],
                      destination: Path, selection: dict[str, list[int]] | None = None
                      ) -> None:
    """Subset a NetCDF file with xarray, keeping variables, attributes and grid mapping
    (and only the kept labels of the dimensions in ``selection``)."""
    import numpy as np
    import xarray as xr

    r0, r1, c0, c1 = window
    ny = profile.grid.ny
    rows = slice(ny - r1, ny - r0) if profile.y_south_up else slice(r0, r1)
    file_mask = mask[::-1] if profile.y_south_up else mask
    ds = xr.open_dataset(path, decode_times=False)
    try:
        xd, yd = profile.x_dim, profile.y_dim
        keep = [n for n in ds.data_vars
                if n in variables or (xd not in ds[n].dims and yd not in ds[n].dims)
                or str(n) in ("lat", "lon", "latitude", "longitude")]
        sub = ds[keep].isel({yd: rows, xd: slice(c0, c1), **(selection or {})})
        inside = xr.DataArray(file_mask, dims=(yd, xd))
        gm_name = None
        for name in variables:
            var = sub[name]
            attrs, encoding = dict(var.attrs), dict(var.encoding)
            masked = var.where(inside)
            masked.attrs = attrs
            gm_name = gm_name or str(attrs.get("grid_mapping", "")).split(":")[0] or None
            enc = {k: v for k, v in encoding.items()
                   if k in ("zlib", "complevel", "shuffle", "chunksizes")}
            if enc.get("chunksizes"):
                enc["chunksizes"] = tuple(min(c, s) for c, s in
                                          zip(enc["chunksizes"], masked.shape))
            enc["_FillValue"] = np.float32(np.nan) if masked.dtype == np.float32 else np.nan
            masked.encoding = enc
            sub[name] = masked
        if gm_name is None:
            gm_name = "crs"
            for name in variables:
                sub[name].attrs["grid_mapping"] = gm_name
        gm_attrs = dict(ds[gm_name].attrs) if gm_name in ds.variables else {}
        gm_attrs.update({k: v for k, v in _crs_attrs(profile.crs).items()
                         if k not in gm_attrs or k in ("crs_wkt", "spatial_ref")})
        sub[gm_name] = xr.DataArray(np.int32(0), attrs=gm_attrs)
        sub.attrs = dict(ds.attrs)
        sub.attrs["history"] = (str(ds.attrs.get("history", "")) +
                                "\ndataclic clip: cells meeting the perimeter").strip()
        for name in sub.variables:
            if name not in variables:
                enc = sub[name].encoding
                for key in ("chunksizes", "contiguous", "source", "original_shape"):
                    enc.pop(key, None)
        sub.to_netcdf(destination, engine="h5netcdf")
    finally:
        ds.close()


def _layers(source: Any, profile: GridProfile, variables: list[str],
            window: tuple[int, int, int, int]) -> dict[str, Any]:
    out = {}
    for name in variables:
        var = profile.variable(name)
        n = layer_count([len(profile.dimensions[d]) for d in var.dims])
        out[name] = source.read(name, 0, n, window)
    return out


def clip_generic_netcdf(source: Any, profile: GridProfile, mask: Any,
                        window: tuple[int, int, int, int], variables: list[str],
                        destination: Path, attrs: dict[str, Any]) -> None:
    """A CF NetCDF built from the profile (GeoTIFF or DRIAS text inputs)."""
    import numpy as np
    import xarray as xr

    r0, r1, c0, c1 = window
    g = profile.grid
    coords: dict[str, Any] = {
        "x": ("x", g.x_centres()[c0:c1], {"standard_name": "projection_x_coordinate",
                                          "units": "m", "axis": "X"}),
        "y": ("y", g.y_centres()[r0:r1], {"standard_name": "projection_y_coordinate",
                                          "units": "m", "axis": "Y"}),
    }
    if profile.crs == "EPSG:4326":
        coords["x"][2].update(standard_name="longitude", units="degrees_east")
        coords["y"][2].update(standard_name="latitude", units="degrees_north")
    data_vars: dict[str, Any] = {"crs": ((), np.int32(0), _crs_attrs(profile.crs))}
    for name, block in _layers(source, profile, variables, window).items():
        var = profile.variable(name)
        sizes = [len(profile.dimensions[d]) for d in var.dims]
        values = np.where(mask, block, np.nan).reshape(*sizes, r1 - r0, c1 - c0)
        for d in var.dims:
            coords.setdefault(d, (d, np.array(profile.dimensions[d], dtype=object)))
        attrs_v = {"grid_mapping": "crs"}
        if var.units:
            attrs_v["units"] = var.units
        if var.long_name:
            attrs_v["long_name"] = var.long_name
        data_vars[name] = ((*var.dims, "y", "x"), values.astype(np.float32), attrs_v)
    ds = xr.Dataset(data_vars, coords=coords,
                    attrs={"Conventions": "CF-1.8", **attrs})
    encoding = {n: {"zlib": True, "_FillValue": np.float32(np.nan)} for n in variables}
    ds.to_netcdf(destination, engine="h5netcdf", encoding=encoding)


def clip_geotiff(source: Any, profile: GridProfile, mask: Any,
                 window: tuple[int, int, int, int], variables: list[str],
                 destination: Path) -> None:
    """A GeoTIFF, one band per variable x dimension labels (band descriptions name them)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from .outputs import LayerLabels

    r0, r1, c0, c1 = window
    g = profile.grid
    layers = _layers(source, profile, variables, window)
    labels = LayerLabels(profile, variables)
    count = sum(b.shape[0] for b in layers.values())
    transform = from_origin(g.x_min + c0 * g.dx, g.y_max - r0 * g.dy, g.dx, g.dy)
    with rasterio.open(destination, "w", driver="GTiff", width=c1 - c0, height=r1 - r0,
                       count=count, dtype="float32", crs=profile.crs, transform=transform,
                       nodata=np.nan, compress="deflate") as dst:
        band = 1
        for name, block in layers.items():
            for j in range(block.shape[0]):
                dst.write(np.where(mask, block[j], np.nan).astype(np.float32), band)
                dst.set_band_description(band, "|".join(
                    [name, *labels.labels(name, j).values()]))
                band += 1
