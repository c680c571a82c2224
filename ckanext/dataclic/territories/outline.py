"""A territory's outline as an SVG path, for a small map drawn without any map library.

Plain Python (no CKAN import). Same projection as the extraction widget's map
(``assets/dataclic-extract.js``): equirectangular, x scaled by the cosine of the latitude.
"""
from __future__ import annotations

import math
from typing import Any

Ring = list[tuple[float, float]]


def rings(geometry: dict[str, Any] | None) -> list[Ring]:
    """Every ring of a GeoJSON Polygon or MultiPolygon; [] for anything else."""
    if not isinstance(geometry, dict):
        return []
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates") or []
    polygons = [coordinates] if kind == "Polygon" else coordinates if kind == "MultiPolygon" \
        else []
    return [[(float(x), float(y)) for x, y, *_ in ring]
            for polygon in polygons for ring in polygon if len(ring) >= 3]


def svg_path(geometry: dict[str, Any] | None, width: int = 240, height: int = 160,
             pad: int = 8) -> str:
    """The ``d`` attribute drawing ``geometry`` fitted in a ``width`` × ``height`` view box
    ("" when there is nothing to draw)."""
    found = rings(geometry)
    if not found:
        return ""
    xs = [x for ring in found for x, _ in ring]
    ys = [y for ring in found for _, y in ring]
    west, south, east, north = min(xs), min(ys), max(xs), max(ys)
    kx = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * kx, 1e-9)
    span_y = max(north - south, 1e-9)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    ox = (width - span_x * scale) / 2
    oy = (height - span_y * scale) / 2

    def point(x: float, y: float) -> str:
        return f"{(x - west) * kx * scale + ox:.1f},{(north - y) * scale + oy:.1f}"

    return "".join("M" + "L".join(point(x, y) for x, y in ring) + "Z" for ring in found)
