"""navl schemas of the dataclic actions."""
from __future__ import annotations

import re
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.shown import shorten

SEARCH_KINDS = ("commune", "epci", "departement", "region")
MAX_SEARCH_LIMIT = 50
DEFAULT_SEARCH_LIMIT = 10
# Simplification tolerance (degrees) of the GeoJSON returned by dataclic_territory_show.
DEFAULT_TOLERANCE = 0.0005
MAX_TOLERANCE = 0.1


# Control characters (tab, line feed and carriage return are ordinary white space).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain_text(value: Any, context: dict[str, Any]) -> Any:
    """Refuse control characters (NUL…): PostgreSQL rejects NUL, and no identifier or
    search text holds any."""
    if isinstance(value, str) and _CONTROL.search(value):
        raise tk.Invalid(tk._("Control characters (such as NUL) are not allowed"))
    return value


def territory_kinds(value: Any, context: dict[str, Any]) -> list[str]:
    """Accept a list or a comma-separated string of territory kinds."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    else:
        raise tk.Invalid(tk._("Expected a list of kinds"))
    unknown = [v for v in items if v not in SEARCH_KINDS]
    if unknown:
        raise tk.Invalid(
            tk._("Unknown kind {kinds}; accepted kinds: {accepted}").format(
                kinds=shorten(", ".join(unknown)), accepted=", ".join(SEARCH_KINDS)
            )
        )
    return items


def bounded(low: float, high: float):
    def check(value: Any, context: dict[str, Any]) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise tk.Invalid(tk._("Must be a number")) from None
        if not low <= number <= high:
            raise tk.Invalid(
                tk._("Must be between {low} and {high}").format(low=low, high=high)
            )
        return value if isinstance(value, int) else number

    return check


def territory_search_schema() -> dict[str, Any]:
    v = tk.get_validator
    return {
        "q": [v("not_empty"), v("unicode_safe"), plain_text],
        "kinds": [v("ignore_missing"), territory_kinds],
        "limit": [
            v("default")(DEFAULT_SEARCH_LIMIT),
            v("int_validator"),
            bounded(1, MAX_SEARCH_LIMIT),
        ],
    }


def territory_show_schema() -> dict[str, Any]:
    v = tk.get_validator
    return {
        "id": [v("not_empty"), v("unicode_safe"), plain_text],
        "geometry": [v("default")(False), v("boolean_validator")],
        "tolerance": [
            v("default")(DEFAULT_TOLERANCE),
            bounded(0, MAX_TOLERANCE),
        ],
    }
