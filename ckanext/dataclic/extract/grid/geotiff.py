"""GeoTIFF / COG grids read through rasterio (GDAL); bands form the ``band`` dimension."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import N_, ExtractionError
from .profile import GridOverrides, GridProfile, GridVariable
from .spec import GridSpec


def _open(path: Path) -> Any:
    import rasterio

    try:
        return rasterio.open(path)
    except Exception as exc:
        raise ExtractionError(N_("Cannot read {file} as GeoTIFF"), file=path.name) from exc


def variable_name(path: Path) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", path.stem).strip("_") or "value"


def detect_geotiff(path: Path, ov: GridOverrides) -> GridProfile:
    with _open(path) as src:
        t = src.transform
        if t.b != 0 or t.d != 0:
            raise ExtractionError(N_("{file} is a rotated raster; only north-up or "
                                     "south-up grids are read"), file=path.name)
        if ov.crs:
            from ..profile import normalise_crs

            crs, crs_source = normalise_crs(ov.crs), "given (--crs)"
        elif src.crs is None:
            raise ExtractionError(
                N_("No usable CRS in {file}: the GeoTIFF has no coordinate reference "
                   "system (no GeoKeys); pass --crs"), file=path.name)
        else:
            from ..profile import normalise_crs

            epsg = src.crs.to_epsg()
            crs = f"EPSG:{epsg}" if epsg else normalise_crs(src.crs.to_wkt())
            crs_source = "GeoTIFF GeoKeys"
        south_up = t.e > 0
        y_max = t.f + t.e * src.height if south_up else t.f
        grid = GridSpec(crs, float(t.c), float(y_max), float(t.a), abs(float(t.e)),
                        int(src.width), int(src.height))
        dims: dict[str, list[str]] = {}
        lead: list[str] = []
        if src.count > 1:
            lead = ["band"]
            dims["band"] = [d or str(i + 1) for i, d in enumerate(src.descriptions)]
        units = (src.units[0] or "") if src.units else ""
        notes = ["south-up raster read north-up"] if south_up else []
    return GridProfile("geotiff", crs, crs_source, grid,
                       [GridVariable(variable_name(path), lead, units)], dims,
                       y_south_up=south_up, notes=notes)


class GeotiffSource:
    def __init__(self, path: Path, profile: GridProfile) -> None:
        self.profile = profile
        self.src = _open(path)

    def close(self) -> None:
        self.src.close()

    def read(self, name: str, start: int, stop: int, window: tuple[int, int, int, int]) -> Any:
        import numpy as np
        from rasterio.windows import Window

        r0, r1, c0, c1 = window
        ny = self.profile.grid.ny
        if self.profile.y_south_up:
            r0, r1 = ny - r1, ny - r0
        bands = list(range(start + 1, stop + 1))
        block = self.src.read(bands, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        out = np.ma.filled(block.astype(np.float64), np.nan)
        if self.profile.y_south_up:
            out = out[:, ::-1, :]
        return out
