"""Which columns of a national dataset tie its rows to territory, read from the dataset's own
description (data-fair schema, Opendatasoft fields) or the source config's ``profile``.

Shared by the territorial harvest (``territorial_sources``) and the size estimates
(``estimates``), so that both send a server the same filter. Plain Python (no CKAN import).
"""
from __future__ import annotations

import json
from typing import Any


def _configured_code_column(config: dict[str, Any]) -> str | None:
    return (config.get("profile") or {}).get("code_column") or None


def datafair_columns(content: dict[str, Any], config: dict[str, Any]
                     ) -> tuple[list[dict[str, Any]], str | None, bool]:
    """``(schema, code column, has geometry)`` of a data-fair dataset description."""
    from .datafair import schema_profile

    schema = [f for f in content.get("schema") or [] if isinstance(f, dict) and f.get("key")]
    profile = json.loads(schema_profile(schema, "csv") or "{}")
    code_column = _configured_code_column(config) or profile.get("code_column")
    geo = bool(content.get("bbox")) or profile.get("geometry", "none") != "none"
    return schema, code_column, geo


def ods_columns(content: dict[str, Any], config: dict[str, Any]
                ) -> tuple[str | None, str | None]:
    """``(code field, geometry field)`` of an Opendatasoft dataset description; the geometry
    field is a ``geo_shape`` field, else a ``geo_point_2d`` one."""
    from .profiles import profile_from_fields

    fields = [f for f in content.get("fields") or [] if isinstance(f, dict) and f.get("name")]
    typed = [(str(f["name"]), str(f.get("type") or "")) for f in fields]
    profile = json.loads(profile_from_fields("csv", typed, delimiter=";") or "{}")
    code_field = _configured_code_column(config) or profile.get("code_column")
    geo_field = next((n for n, t in typed if t == "geo_shape"), None) or next(
        (n for n, t in typed if t == "geo_point_2d"), None)
    return code_field, geo_field
