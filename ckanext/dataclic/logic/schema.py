"""navl schemas of the dataclic actions."""
from __future__ import annotations

from typing import Any

import ckan.plugins.toolkit as tk

SEARCH_KINDS = ("commune", "epci", "departement", "region")
MAX_SEARCH_LIMIT = 50
DEFAULT_SEARCH_LIMIT = 10
# Simplification tolerance (degrees) of the GeoJSON returned by dataclic_territory_show.
DEFAULT_TOLERANCE = 0.0005
MAX_TOLERANCE = 0.1


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
                kinds=", ".join(unknown), accepted=", ".join(SEARCH_KINDS)
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
        "q": [v("not_empty"), v("unicode_safe")],
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
        "id": [v("not_empty"), v("unicode_safe")],
        "geometry": [v("default")(False), v("boolean_validator")],
        "tolerance": [
            v("default")(DEFAULT_TOLERANCE),
            bounded(0, MAX_TOLERANCE),
        ],
    }
