"""navl schemas of the extraction actions."""
from __future__ import annotations

from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.logic.schema import bounded, plain_text

DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100


def json_object(value: Any, context: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            raise tk.Invalid(tk._("Expected a JSON object")) from None
    if not isinstance(value, dict):
        raise tk.Invalid(tk._("Expected a JSON object"))
    return value


def profile_show_schema() -> dict[str, Any]:
    v = tk.get_validator
    return {"resource_id": [v("not_empty"), v("unicode_safe"), plain_text]}


def profile_update_schema() -> dict[str, Any]:
    v = tk.get_validator
    return {"resource_id": [v("not_empty"), v("unicode_safe"), plain_text],
            "profile": [v("not_missing"), json_object]}


def extract_schema() -> dict[str, Any]:
    v = tk.get_validator
    return {
        "resource_id": [v("not_empty"), v("unicode_safe"), plain_text],
        "perimeter": [v("not_empty"), v("unicode_safe"), plain_text],
        "mode": [v("ignore_missing"), v("unicode_safe"), plain_text],
        "format": [v("default")("csv"), v("unicode_safe"), plain_text],
        "out_crs": [v("ignore_missing"), v("unicode_safe"), plain_text],
        "enrich": [v("default")(False), v("boolean_validator")],
        # Grid options: checked against the resource's grid profile (extraction/grids.py).
        "variables": [v("ignore_missing")],
        "labels": [v("ignore_missing")],
        "threshold": [v("ignore_missing")],
        "wide": [v("ignore_missing")],
    }


def preview_schema() -> dict[str, Any]:
    v = tk.get_validator
    return {"resource_id": [v("not_empty"), v("unicode_safe"), plain_text],
            "perimeter": [v("not_empty"), v("unicode_safe"), plain_text],
            "mode": [v("ignore_missing"), v("unicode_safe"), plain_text]}


def extract_show_schema() -> dict[str, Any]:
    v = tk.get_validator
    return {"id": [v("not_empty"), v("unicode_safe"), plain_text]}


def extract_list_schema() -> dict[str, Any]:
    v = tk.get_validator
    return {
        "resource_id": [v("ignore_missing"), v("unicode_safe"), plain_text],
        "mine": [v("default")(False), v("boolean_validator")],
        "limit": [v("default")(DEFAULT_LIST_LIMIT), v("int_validator"),
                  bounded(1, MAX_LIST_LIMIT)],
    }


def publish_schema() -> dict[str, Any]:
    v = tk.get_validator
    return {
        "id": [v("not_empty"), v("unicode_safe"), plain_text],
        "owner_org": [v("not_empty"), v("unicode_safe"), plain_text],
        "package_id": [v("ignore_missing"), v("unicode_safe"), plain_text],
        "resource_id": [v("ignore_missing"), v("unicode_safe"), plain_text],
    }
