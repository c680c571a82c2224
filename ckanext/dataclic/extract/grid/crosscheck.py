"""Cross-check of a NetCDF grid's georeferencing against its own 2-D latitude/longitude.

Many files carry, beside the 1-D x/y the engine reads, 2-D ``lat``/``lon`` of every cell
centre (DRIAS, CORDEX, WRF…). When they exist they must land on the cells the grid puts
there; otherwise the CRS, the axis units or the index base were misread, and a wrong
answer is refused instead of written.
"""

from __future__ import annotations

from typing import Any

from ..errors import N_, ExtractionError

LAT_NAMES = ("lat", "latitude", "nav_lat", "LAT", "XLAT")
LON_NAMES = ("lon", "longitude", "nav_lon", "LON", "XLONG")
MAX_POINTS = 10_000  # cells checked (a regular sample of the grid)
MAX_OFFSET_CELLS = 0.5  # the typical (median) centre must fall in its own cell


def _find(ds: Any, names: tuple[str, ...], dims: set[str]) -> Any | None:
    for name in names:
        if name in ds.variables and ds[name].ndim == 2 and set(ds[name].dims) == dims:
            return ds[name]
    return None


def check_2d_lonlat(ds: Any, x_dim: str, y_dim: str, xs: Any, ys: Any, grid: Any,
                    file: str) -> bool:
    """Raises when the 2-D lat/lon of ``ds`` disagree with the centres ``xs``/``ys`` (file
    order) in ``grid.crs``; True when they were checked, False when there are none."""
    import numpy as np

    from ..spatial import transformer

    lat = _find(ds, LAT_NAMES, {x_dim, y_dim})
    lon = _find(ds, LON_NAMES, {x_dim, y_dim})
    if lat is None or lon is None:
        return False
    step = max(1, int(np.sqrt(lat.size / MAX_POINTS)))
    lat_v = np.asarray(lat.transpose(y_dim, x_dim).values, dtype=np.float64)[::step, ::step]
    lon_v = np.asarray(lon.transpose(y_dim, x_dim).values, dtype=np.float64)[::step, ::step]
    ok = np.isfinite(lat_v) & np.isfinite(lon_v) & (np.abs(lat_v) <= 90)
    if not ok.any():
        return False
    cx = np.broadcast_to(np.asarray(xs, dtype=np.float64)[::step][None, :], lat_v.shape)
    cy = np.broadcast_to(np.asarray(ys, dtype=np.float64)[::step][:, None], lat_v.shape)
    if grid.crs == "EPSG:4326":  # longitudes compared modulo 360 (0..360 or -180..180)
        dx, y = (lon_v - cx + 180.0) % 360.0 - 180.0, lat_v
    else:
        x, y = transformer("EPSG:4326", grid.crs).transform(lon_v, lat_v)
        dx = np.asarray(x) - cx
    with np.errstate(invalid="ignore"):
        off = np.maximum(np.abs(dx) / grid.dx, np.abs(np.asarray(y) - cy) / grid.dy)
    # The typical offset: a few bad points (0/0 or fill values on masked cells) are
    # ignored; a misread CRS, unit or index base moves every cell.
    worst = float(np.nanmedian(off[ok])) if np.isfinite(off[ok]).any() else float("inf")
    if not np.isfinite(worst) or worst > MAX_OFFSET_CELLS:
        raise ExtractionError(
            N_("The 2-D {lat}/{lon} of {file} do not match the grid read from {x}/{y} in "
               "{crs} (cell centres typically {cells} cells away): the CRS or the axes are "
               "misread; pass --crs (or --x-dim/--y-dim)"),
            lat=lat.name, lon=lon.name, file=file, x=x_dim, y=y_dim, crs=grid.crs[:40],
            cells=f"{worst:.1f}" if np.isfinite(worst) else "?")
    return True
