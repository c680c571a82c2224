"""Template helpers of the "Extract for a territory" panel and of the provenance display.

Every helper tolerates the actions it calls being absent or failing: the page then renders
without the panel (or without the provenance box) instead of answering 500.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import ckan.plugins.toolkit as tk
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from ckanext.dataclic.grid_panel import (
    GRID_PROVENANCE_KEYS,
    grid_origin,
    grid_panel,
    grid_panel_strings,
)
from ckanext.dataclic.logic import dataset_fields

log = logging.getLogger(__name__)

# Formats the panel knows how to label, in the order it offers them.
FORMAT_LABELS = {
    "csv": "CSV",
    "geojson": "GeoJSON",
    "gpkg": "GeoPackage",
    "shp": "Shapefile (zip)",
    "parquet": "Parquet",
}
# Output coordinate systems offered for geometric formats (EPSG code, label).
OUTPUT_CRS = [
    ("EPSG:4326", "WGS 84 (EPSG:4326)"),
    ("EPSG:2154", "Lambert-93 (EPSG:2154)"),
    ("EPSG:3857", "Web Mercator (EPSG:3857)"),
]
# Provenance written by dataclic_publish (extraction/publication.py) on each published resource,
# and on the dataset's extras when the publication created the dataset; refresh outcomes go to
# the dataset's extras.
PROVENANCE_KEYS = (
    "dataclic_source_package",
    "dataclic_source_package_title",
    "dataclic_source_resource",
    "dataclic_perimeter",
    "dataclic_perimeter_name",
    "dataclic_cog_vintage",
    "dataclic_extraction_date",
    "dataclic_mode",
    "dataclic_rows_read",
    "dataclic_rows_kept",
)
REFRESH_KEYS = ("dataclic_last_refresh", "dataclic_refresh_status", "dataclic_refresh_message")
MAP_DEPARTEMENTS = 4
_TOLERATED = (KeyError, tk.ObjectNotFound, tk.NotAuthorized, tk.ValidationError)


def _call(action: str, data_dict: dict[str, Any]) -> Any:
    """Run ``action`` as the current user; ``None`` when it is missing or refuses."""
    try:
        function = tk.get_action(action)
    except KeyError:
        return None
    context = {"user": tk.current_user.name if tk.current_user else ""}
    try:
        return function(context, data_dict)
    except _TOLERATED:
        return None
    except Exception:  # a broken action must not take the resource page down
        log.exception("dataclic: %s failed while rendering a page", action)
        return None


def mode_labels() -> dict[str, str]:
    return {
        "filter": tk._("Filter by commune code"),
        "intersects": tk._("Features touching the territory"),
        "clip": tk._("Features clipped to the territory"),
    }


def _stored_profile(resource_id: str) -> dict[str, Any] | None:
    """The profile as dataclic_profile_show shapes it, read without the action's own checks.

    The resource page has already checked that the user may read the resource; calling the
    action would run package_show again (about 30 ms, a fifth of the page). None when the
    extraction package is not there, so the caller falls back to the action.
    """
    try:
        from ckanext.dataclic.extraction import service
        from ckanext.dataclic.model import extraction as store

        return service.profile_view(resource_id, store.get_profile(resource_id))
    except Exception:  # absent, or changed shape: the action is the contract
        log.debug("dataclic: profile read through the action", exc_info=True)
        return None


def extraction_panel(resource_id: str) -> dict[str, Any] | None:
    """The extraction profile of a resource when the panel can offer something, else None."""
    if not resource_id:
        return None
    shown = _stored_profile(resource_id)
    if shown is None:
        shown = _call("dataclic_profile_show", {"resource_id": resource_id})
    if not isinstance(shown, dict) or shown.get("status") != "detected":
        return None
    if shown.get("grid"):
        return grid_panel(shown, resource_id)
    formats = [f for f in shown.get("formats") or [] if f in FORMAT_LABELS]
    if not formats:
        return None
    labels = mode_labels()
    modes = [m for m in shown.get("modes") or [] if m in labels]
    profile = shown.get("profile") or {}
    coverage = (profile.get("coverage") if isinstance(profile, dict) else None) or {}
    bounds = coverage.get("bbox")
    departements = sorted(coverage.get("departements") or {})
    return {
        "resource_id": resource_id,
        "grid": False,
        "geometric": bool(shown.get("geometric")),
        "formats": [{"value": f, "label": FORMAT_LABELS[f]} for f in formats],
        "modes": [{"value": m, "label": labels[m]} for m in modes],
        "crs": [{"value": code, "label": label} for code, label in OUTPUT_CRS],
        "bounds": bounds if isinstance(bounds, list) and len(bounds) == 4 else None,
        # The map outlines the départements the file covers when they are few.
        "departements": departements if len(departements) <= MAP_DEPARTEMENTS else [],
    }


def default_perimeter() -> dict[str, str] | None:
    """The portal's home territory (``ckanext.dataclic.default_perimeter``), resolved once
    every few minutes per process (its name does not depend on the page's locale)."""
    perimeter = (tk.config.get("ckanext.dataclic.default_perimeter") or "").strip()
    if not perimeter:
        return None
    cached = _HOME.get(perimeter)
    if cached is not None and time.monotonic() - cached[0] < HOME_TTL_S:
        return cached[1]
    home = _resolve_home(perimeter)
    _HOME.clear()
    _HOME[perimeter] = (time.monotonic(), home)
    return home


def _resolve_home(perimeter: str) -> dict[str, str] | None:
    shown = _call("dataclic_territory_show", {"id": perimeter})
    if not isinstance(shown, dict):
        log.warning("dataclic: default perimeter %r does not resolve", perimeter)
        return None
    return {
        "id": shown["id"],
        "name": shown["name"],
        "kind": shown.get("kind", ""),
        "kind_label": shown.get("kind_label", ""),
    }


def home_territory_link() -> dict[str, str] | None:
    """"Data for <home territory>": a dataset search for the extracts published for it."""
    home = default_perimeter()
    if home is None:
        return None
    query = f'extras_dataclic_perimeter:"{home["id"]}"'
    return {
        "label": tk._("Data for {name}").format(name=home["name"]),
        "url": tk.h.url_for("dataset.search", q=query),
        "name": home["name"],
    }


def publish_organizations() -> list[dict[str, str]]:
    """Organisations where the current user may create datasets (empty for anonymous users)."""
    if not tk.current_user or not tk.current_user.is_authenticated:
        return []
    organizations = _call(
        "organization_list_for_user",
        {"id": tk.current_user.id, "permission": "create_dataset"},
    )
    return [
        {"id": o["id"], "name": o["name"], "title": o.get("display_name") or o["name"]}
        for o in organizations or []
    ]


def _locale() -> str:
    try:
        return str(tk.h.lang() or "")
    except (RuntimeError, AttributeError, TypeError):  # outside a request
        return ""


# Per-process caches of what does not change between requests: translated messages per
# locale, the resolved home territory per configured value (for a few minutes).
_STRINGS: dict[str, tuple[dict[str, Any], Markup]] = {}
_HOME: dict[str, tuple[float, dict[str, str] | None]] = {}
HOME_TTL_S = 300.0


def panel_strings() -> dict[str, Any]:
    """Messages the panel's JavaScript shows, translated for the page's locale."""
    return _panel_strings()[0]


def panel_strings_json() -> Markup:
    """:func:`panel_strings` as JSON safe to embed in HTML, built once per locale."""
    return _panel_strings()[1]


def _panel_strings() -> tuple[dict[str, Any], Markup]:
    locale = _locale()
    cached = _STRINGS.get(locale)
    if cached is None:
        strings = _build_panel_strings()
        cached = _STRINGS[locale] = (strings, htmlsafe_json_dumps(strings))
    return cached


def _plural(singular: str, plural: str) -> dict[str, str]:
    """Both forms of a message, for the script to pick with Intl.PluralRules ("one" is the
    singular form of French and English, "other" the plural)."""
    return {"one": tk.ungettext(singular, plural, 1), "other": tk.ungettext(singular, plural, 2)}


def _build_panel_strings() -> dict[str, Any]:
    return {
        **grid_panel_strings(_plural),
        "searching": tk._("Searching…"),
        "no_result": tk._("No territory found"),
        "results": _plural("{count} territory found; use the up and down arrows to choose",
                           "{count} territories found; use the up and down arrows to choose"),
        "selected": tk._("Selected: {name}"),
        "preview": _plural("≈ {count} row for {name}", "≈ {count} rows for {name}"),
        "preview_exact": _plural("{count} row for {name}", "{count} rows for {name}"),
        "preview_none": tk._("No rows for this territory: the resource does not cover it"),
        "preview_unknown": tk._("The number of rows for {name} cannot be estimated quickly"),
        "choose_territory": tk._("Choose a territory first"),
        "queued": tk._("Waiting for a worker…"),
        "running": tk._("Extracting… {percent} %"),
        "running_unknown": tk._("Extracting…"),
        "done": tk._("Extraction finished"),
        "failed": tk._("The extraction failed: {reason}"),
        "download": tk._("Download {filename}"),
        "rows_kept": tk._("Rows kept: {count}"),
        "rows_read": tk._("Rows read: {count}"),
        "rows_remapped": tk._("Former commune codes mapped to today's communes: {count}"),
        "rows_unknown": tk._("Rows with an unknown commune code: {count}"),
        "unknown_codes": tk._("Unknown codes: {codes}"),
        "rows_without_geometry": tk._("Rows without geometry: {count}"),
        "elapsed": tk._("Time: {seconds} s"),
        "extracted": tk._("Extracted on {date}"),
        "network": tk._("The portal cannot be reached. Check your connection and try again."),
        "server": tk._("The portal could not answer ({status}). Try again later."),
        "forbidden": tk._("You are not allowed to do this."),
        "publishing": tk._("Publishing…"),
        "published": tk._("Published: {title}"),
        "choose_dataset": tk._("Choose the dataset to add the extract to"),
        "map_label": tk._("Outline of {name}"),
        "map_extent": tk._("dashed: the area the resource covers"),
        "kind_commune": tk._("Commune"),
        "kind_arrondissement": tk._("Arrondissement"),
        "kind_epci": tk._("EPCI"),
        "kind_departement": tk._("Département"),
        "kind_region": tk._("Région"),
    }


def _origin(facts: dict[str, Any], refresh: dict[str, Any]) -> dict[str, Any]:
    source_name = facts.get("dataclic_source_package")
    source = _call("package_show", {"id": source_name}) if source_name else None
    mode = facts.get("dataclic_mode", "")
    status = refresh.get("dataclic_refresh_status") or ""
    return {
        **{k: facts.get(k) for k in PROVENANCE_KEYS},
        **{k: refresh.get(k) for k in REFRESH_KEYS},
        "source_title": (source or {}).get("title")
        or facts.get("dataclic_source_package_title") or source_name,
        "source_name": (source or {}).get("name") or source_name,
        "source_available": source is not None,
        "refresh_ok": None if not status else status in ("ok", "unchanged"),
        "mode_label": mode_labels().get(mode, mode),
        **{k: facts.get(k) for k in GRID_PROVENANCE_KEYS},
        **grid_origin(facts),
    }


def provenance(pkg_dict: dict[str, Any]) -> list[dict[str, Any]]:
    """Provenance of the published extracts a dataset holds (one entry per extract).

    Read from each resource's provenance fields, or from the dataset's extras when the
    publication created the dataset; empty for datasets that hold no published extract.
    """
    pkg_dict = pkg_dict or {}
    extras = dataset_fields.read_fields(pkg_dict)  # extras, or scheming's top-level fields
    refresh = {k: extras.get(k) for k in REFRESH_KEYS}
    origins = []
    for resource in pkg_dict.get("resources") or []:
        if resource.get("dataclic_perimeter") and resource.get("dataclic_source_package"):
            origins.append({**_origin(resource, refresh), "resource_id": resource.get("id"),
                            "resource_name": resource.get("name")})
    if not origins and extras.get("dataclic_perimeter") and extras.get("dataclic_source_package"):
        origins.append(_origin(extras, refresh))
    return origins


def extract_summary(pkg_dict: dict[str, Any]) -> dict[str, Any] | None:
    """One line of provenance for dataset lists (search, organisation pages): extras only,
    no extra query per listed dataset."""
    extras = dataset_fields.read_fields(pkg_dict)
    if not (extras.get("dataclic_perimeter") and extras.get("dataclic_source_package")):
        return None
    status = extras.get("dataclic_refresh_status") or ""
    return {
        "source_name": extras["dataclic_source_package"],
        "source_title": extras.get("dataclic_source_package_title")
        or extras["dataclic_source_package"],
        "territory": extras.get("dataclic_perimeter_name") or extras["dataclic_perimeter"],
        "vintage": extras.get("dataclic_cog_vintage") or "",
        "refresh_failed": status == "failed",
    }


def provenance_keys() -> list[str]:
    """Extras the provenance box shows, so the "Additional Info" table need not repeat them
    (plus the portal's own ``package_hide_extras``)."""
    hidden = tk.config.get("package_hide_extras") or []
    return [*PROVENANCE_KEYS, *GRID_PROVENANCE_KEYS, *REFRESH_KEYS, "dataclic_extraction_id",
            *hidden]


def get_helpers() -> dict[str, Callable[..., Any]]:
    from ckanext.dataclic import home

    return {
        **home.get_helpers(),
        "dataclic_extraction_panel": extraction_panel,
        "dataclic_default_perimeter": default_perimeter,
        "dataclic_home_territory_link": home_territory_link,
        "dataclic_publish_organizations": publish_organizations,
        "dataclic_panel_strings": panel_strings,
        "dataclic_panel_strings_json": panel_strings_json,
        "dataclic_provenance": provenance,
        "dataclic_provenance_keys": provenance_keys,
        "dataclic_extract_summary": extract_summary,
    }
