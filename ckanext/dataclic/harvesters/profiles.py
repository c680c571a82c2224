"""Extraction profiles of harvested resources, from what the source says about its fields,
or from the engine's detection when the file is at hand (local copies)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GEO_FORMATS = {"geojson": "EPSG:4326", "json-geojson": "EPSG:4326"}
NATIVE_GEO_FORMATS = {"shp", "gpkg", "geopackage", "fgb", "flatgeobuf", "kml", "gml"}


def profile_from_fields(
    fmt: str,
    fields: list[tuple[str, str]],
    *,
    crs: str | None = None,
    delimiter: str | None = None,
) -> str | None:
    """A profile (as stored JSON) from field names and types, or None if nothing ties the
    resource to territory. ``fields`` holds (name, type); Opendatasoft types ``geo_point_2d``
    and ``geo_shape`` are understood."""
    from ckanext.dataclic.extract.profile import (
        CODE_COLUMN_NAMES,
        LAT_NAMES,
        LON_NAMES,
        ExtractionProfile,
        normalise_name,
    )

    fmt = fmt.lower()
    names = [name for name, _type in fields]
    profile = ExtractionProfile(format=fmt, columns=names, delimiter=delimiter)
    by_norm = {normalise_name(name): name for name in names}
    for wanted in CODE_COLUMN_NAMES:
        if wanted in by_norm:
            profile.code_column = by_norm[wanted]
            break
    if fmt in GEO_FORMATS:
        profile.geometry, profile.crs = "native", crs or GEO_FORMATS[fmt]
    elif fmt in NATIVE_GEO_FORMATS:
        profile.geometry, profile.crs = "native", crs
    else:
        point = next((n for n, t in fields if t == "geo_point_2d"), None)
        shape = next((n for n, t in fields if t == "geo_shape"), None)
        lat = next((by_norm[n] for n in LAT_NAMES if n in by_norm), None)
        lon = next((by_norm[n] for n in LON_NAMES if n in by_norm), None)
        if point:
            profile.geometry, profile.point_column, profile.crs = "point_text", point, "EPSG:4326"
        elif lat and lon:
            profile.geometry, profile.lat_column, profile.lon_column = "latlon", lat, lon
            profile.crs = crs or "EPSG:4326"
        elif shape and fmt == "parquet":
            profile.geometry, profile.geometry_column = "native", shape
            profile.crs = "EPSG:4326"
    if not profile.has_code and not profile.has_geometry:
        return None
    return profile.to_json(sort_keys=True)


def profile_from_file(path: Path, fmt: str) -> str | None:
    """The engine's detection on a local copy; None when nothing ties it to territory."""
    try:
        from ckanext.dataclic.extract import detect_profile
        from ckanext.dataclic.extract.engine import default_referential

        profile = detect_profile(path, default_referential())
    except Exception as exc:  # noqa: BLE001 - best effort: the admin can still set a profile
        log.info("No profile detected for %s (%s): %s", path, fmt, exc)
        return None
    if not (profile.has_code or profile.has_geometry):
        return None
    return json.dumps(profile.to_dict(), sort_keys=True)


def merge_profile(stored: str | None, overrides: dict[str, Any]) -> str | None:
    if not overrides:
        return stored
    data = json.loads(stored) if stored else {"format": "unknown"}
    data.update(overrides)
    return json.dumps(data, sort_keys=True)
