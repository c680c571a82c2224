"""Standard (catalogue-level) descriptions of a territory: data.gouv.fr geozone ids and an
outline small enough for a catalogue to index.

Plain Python on purpose (no CKAN import): the publication path and the territorial harvest
both build their datasets' standard metadata from here, through
:mod:`ckanext.dataclic.logic.territory_metadata`.
"""
from __future__ import annotations

from typing import Any

from .codes import PerimeterId, parse_perimeter_id

# data.gouv.fr's geozone levels, by perimeter kind.
GEOZONE_LEVELS = {
    "commune": "fr:commune",
    "communes": "fr:commune",
    "epci": "fr:epci",
    "departement": "fr:departement",
    "region": "fr:region",
}
# A catalogue indexes the outline as text (Solr, ckanext-spatial's extent table, DCAT
# literals): 20 kB keeps a région readable while a commune keeps its detail.
MAX_OUTLINE_CHARS = 20_000
_PRECISION = 1e-5  # degrees, about a metre


def geozone_ids(perimeter: str | PerimeterId) -> list[str]:
    """``fr:<level>:<code>`` for each territory of a perimeter id (a list of communes gives
    one id per commune)."""
    parsed = parse_perimeter_id(perimeter) if isinstance(perimeter, str) else perimeter
    level = GEOZONE_LEVELS[parsed.kind]
    return [f"{level}:{code}" for code in parsed.codes]


def outline_geojson(geometry: Any, max_chars: int = MAX_OUTLINE_CHARS) -> str | None:
    """The geometry as GeoJSON text of at most ``max_chars`` characters: simplified with a
    growing tolerance, its coordinates rounded to about a metre; the bounding box when even
    a coarse outline is too long. None for an empty geometry."""
    import shapely

    if geometry is None or geometry.is_empty:
        return None
    tolerance = 0.0
    candidate = geometry
    for _ in range(16):
        candidate = geometry.simplify(tolerance, preserve_topology=True) if tolerance else geometry
        candidate = shapely.set_precision(candidate, _PRECISION)
        if not candidate.is_empty:
            text = shapely.to_geojson(candidate)
            if len(text) <= max_chars:
                return text
        tolerance = tolerance * 2 if tolerance else 0.0002
    return shapely.to_geojson(shapely.box(*geometry.bounds))
