"""Gridded inputs (NetCDF, GeoTIFF, DRIAS text exports): per-commune statistics and clips.

Plain Python, no CKAN import. Entry points: :func:`detect_grid_profile` (profile.py),
:func:`extract_grid` (engine.py) and :func:`is_grid_file` (profile.py). Heavy libraries
(xarray, h5netcdf, rasterio, scipy) are imported when a grid is read.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GridProfile", "detect_grid_profile", "extract_grid", "is_grid_file"]


def __getattr__(name: str) -> Any:
    if name in ("GridProfile", "detect_grid_profile", "is_grid_file"):
        from . import profile

        return getattr(profile, name)
    if name == "extract_grid":
        from .engine import extract_grid

        return extract_grid
    raise AttributeError(name)
