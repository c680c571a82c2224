"""Spatial selection against a perimeter: bbox pre-filter, prepared polygon, true clip."""

from __future__ import annotations

from typing import Any

from .errors import N_, ExtractionError

WGS84 = "EPSG:4326"


def transformer(source: str, target: str) -> Any:
    from pyproj import Transformer

    try:
        return Transformer.from_crs(source, target, always_xy=True)
    except Exception as exc:
        raise ExtractionError(N_("Cannot convert coordinates from {source} to {target}"),
                              source=source, target=target) from exc


_VALID_BOUNDS: dict[str, tuple[float, float, float, float] | None] = {}


def valid_bounds(crs: str) -> tuple[float, float, float, float] | None:
    """The box where coordinates in ``crs`` can lie: longitude/latitude limits for WGS84,
    the CRS's area of use (projected, with a 10 % margin) otherwise; None when unknown."""
    if crs == WGS84:
        return (-180.0, -90.0, 180.0, 90.0)
    if crs not in _VALID_BOUNDS:
        bounds = None
        try:
            from pyproj import CRS, Transformer

            area = CRS.from_user_input(crs).area_of_use
            if area is not None:
                tr = Transformer.from_crs(WGS84, crs, always_xy=True)
                minx, miny, maxx, maxy = tr.transform_bounds(
                    area.west, area.south, area.east, area.north, densify_pts=21)
                dx, dy = (maxx - minx) * 0.1, (maxy - miny) * 0.1
                if all(abs(v) != float("inf") for v in (minx, miny, maxx, maxy)):
                    bounds = (minx - dx, miny - dy, maxx + dx, maxy + dy)
        except Exception:  # noqa: BLE001 - an unknown area only disables the check
            bounds = None
        _VALID_BOUNDS[crs] = bounds
    return _VALID_BOUNDS[crs]


def reproject(geoms: Any, source: str, target: str) -> Any:
    import shapely

    if source == target or geoms is None or len(geoms) == 0:
        return geoms
    tr = transformer(source, target)

    def apply(coords: Any) -> Any:
        import numpy as np

        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, apply)


def perimeter_in(geometry: Any, crs: str) -> Any:
    """A WGS84 perimeter geometry in ``crs``, valid."""
    import numpy as np
    import shapely

    if crs != WGS84:
        geometry = reproject(np.array([geometry], dtype=object), WGS84, crs)[0]
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    return geometry


class SpatialSelection:
    """The perimeter, expressed in the source's CRS, ready for fast tests."""

    def __init__(self, perimeter_geometry: Any, source_crs: str,
                 in_source_crs: Any = None) -> None:
        """``in_source_crs``: the perimeter already in ``source_crs``, when known."""
        import shapely

        geom = in_source_crs
        if geom is None:
            geom = perimeter_in(perimeter_geometry, source_crs)
        shapely.prepare(geom)
        self.geometry = geom
        self.bounds = geom.bounds

    def mask_xy(self, x: Any, y: Any) -> Any:
        import numpy as np
        import shapely

        minx, miny, maxx, maxy = self.bounds
        cand = np.flatnonzero((x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))
        mask = np.zeros(x.shape[0], dtype=bool)
        if cand.size:
            mask[cand] = shapely.intersects_xy(self.geometry, x[cand], y[cand])
        return mask

    def mask_geometries(self, geoms: Any) -> tuple[Any, Any, int]:
        """(mask, geometries with invalid selected ones repaired, number repaired).
        Validity is checked only on the geometries that meet the perimeter: the check costs
        more than the selection itself."""
        import numpy as np
        import shapely

        b = shapely.bounds(geoms)
        minx, miny, maxx, maxy = self.bounds
        with np.errstate(invalid="ignore"):
            cand = np.flatnonzero((b[:, 0] <= maxx) & (b[:, 2] >= minx)
                                  & (b[:, 1] <= maxy) & (b[:, 3] >= miny))
        mask = np.zeros(len(geoms), dtype=bool)
        repaired = 0
        if cand.size:
            mask[cand] = shapely.intersects(self.geometry, geoms[cand])
            hit = np.flatnonzero(mask)
            bad = hit[~shapely.is_valid(geoms[hit])]
            if bad.size:
                geoms = np.array(geoms, dtype=object)
                geoms[bad] = shapely.make_valid(geoms[bad])
                repaired = int(bad.size)
                # A repaired shape may no longer meet the perimeter.
                mask[bad] = shapely.intersects(self.geometry, geoms[bad])
        return mask, geoms, repaired

    def clip(self, geoms: Any) -> Any:
        """Geometries cut at the perimeter boundary; None where only a lower-dimension
        touch remains. Points (already selected as inside) stay as they are."""
        import numpy as np
        import shapely

        out = np.array(geoms, dtype=object)
        dims = shapely.get_dimensions(out)
        todo = np.flatnonzero(dims > 0)
        if todo.size == 0:
            return out
        inside = shapely.contains(self.geometry, out[todo])
        cut = todo[~inside]
        if cut.size:
            res = shapely.intersection(out[cut], self.geometry)
            for i, r, dim in zip(cut.tolist(), res, dims[cut].tolist(), strict=True):
                out[i] = _keep_dimension(r, dim)
        return out


def _keep_dimension(geom: Any, dim: int) -> Any:
    import shapely

    if geom is None or geom.is_empty:
        return None
    if shapely.get_dimensions(geom) == dim and geom.geom_type != "GeometryCollection":
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_dimensions(p) == dim
             and not p.is_empty]
    if not parts:
        return None
    if dim == 2:
        return shapely.multipolygons(parts) if len(parts) > 1 else parts[0]
    return shapely.multilinestrings(parts) if len(parts) > 1 else parts[0]
