"""Standard metadata of the datasets dataclic publishes for a territory.

ONE entry point, :func:`standard_territory_fields`, called by the publication path
(``extraction/publication.py``) and meant for the territorial harvest too, so every
territory dataset speaks the same standard fields:

- ``spatial``: the territory's outline as GeoJSON, simplified to an indexable size
  (ckanext-spatial draws it and its bbox search finds it);
- ``dataclic_geozones``: the data.gouv.fr geozone ids (``fr:commune:33063``…), which the
  DCAT profile (:mod:`ckanext.dataclic.dcat_profile`) outputs as ``dct:spatial``;
- ``temporal_start`` / ``temporal_end`` copied from the source dataset when it has them
  (ckanext-dcat's field names).
"""
from __future__ import annotations

import logging
from typing import Any

from ckanext.dataclic.territories.standard import geozone_ids, outline_geojson

log = logging.getLogger(__name__)

TEMPORAL_KEYS = ("temporal_start", "temporal_end")


def _extras(package: dict[str, Any] | None) -> dict[str, Any]:
    if not package:
        return {}
    values = {e["key"]: e["value"] for e in package.get("extras") or [] if "key" in e}
    for key in TEMPORAL_KEYS:  # scheming datasets carry them as top-level fields
        if package.get(key):
            values[key] = package[key]
    periods = package.get("temporal_coverage")  # ckanext-dcat's DCAT-AP scheming schemas
    if isinstance(periods, list) and periods and isinstance(periods[0], dict):
        values.setdefault("temporal_start", periods[0].get("start"))
        values.setdefault("temporal_end", periods[0].get("end"))
    return values


def standard_territory_fields(perimeter_id: str, *, referential: Any = None,
                              source_package: dict[str, Any] | None = None) -> dict[str, str]:
    """Standard fields (dataset extras) for a dataset about ``perimeter_id`` ("kind:code").

    ``referential`` defaults to the portal's active referential. A territory without
    contours gets no ``spatial`` (rather than a wrong one)."""
    if referential is None:
        from ckanext.dataclic.model import active_referential

        referential = active_referential.get()
    perimeter = referential.resolve(perimeter_id)
    fields: dict[str, str] = {"dataclic_geozones": " ".join(geozone_ids(perimeter.id))}
    try:
        outline = outline_geojson(perimeter.geometry)
    except Exception:  # a broken contour must not stop a publication
        log.exception("No outline for %s", perimeter.id)
        outline = None
    if outline:
        fields["spatial"] = outline
    source = _extras(source_package)
    for key in TEMPORAL_KEYS:
        if source.get(key):
            fields[key] = str(source[key])
    return fields
