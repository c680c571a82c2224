"""The home page's "Data for <territory>" block: the territory's datasets by theme, and its map.

A dataset belongs to the portal's territory when its extra ``dataclic_perimeter`` equals the
home perimeter's id (what ``dataclic_publish`` and the territorial harvest write); its theme is
the extra ``dataclic_theme`` (a catalogue theme), "other" when missing or unknown.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic import helpers
from ckanext.dataclic.territories.outline import svg_path
from ckanext.dataclic.themes import OTHER, label, theme_order

log = logging.getLogger(__name__)

MAX_DATASETS = 100      # listed on the home page; the search link has them all
MAP_WIDTH, MAP_HEIGHT = 240, 160
MAP_TOLERANCE = 0.002   # degrees, as the widget's map
_OUTLINES: dict[str, tuple[float, str]] = {}


def _extras(pkg: dict[str, Any]) -> dict[str, str]:
    return {e.get("key"): e.get("value") for e in pkg.get("extras") or []
            if isinstance(e, dict)}


def territory_datasets(perimeter_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The territory's datasets the current user may see, grouped by theme in the catalogue's
    order; and whether there are more than the block lists."""
    query = f'extras_dataclic_perimeter:"{perimeter_id}"'
    found = helpers._call("package_search", {"fq": query, "rows": MAX_DATASETS,
                                             "sort": "title_string asc"})
    if not isinstance(found, dict):
        return [], False
    known = theme_order()
    groups: dict[str, list[dict[str, Any]]] = {}
    for pkg in found.get("results") or []:
        extras = _extras(pkg)
        if extras.get("dataclic_perimeter") != perimeter_id:
            continue   # the search matches words; the block wants this very perimeter
        theme = extras.get("dataclic_theme") or OTHER
        if theme not in known:
            theme = OTHER
        groups.setdefault(theme, []).append({
            "name": pkg["name"],
            "title": pkg.get("title") or pkg["name"],
            "url": tk.h.url_for("dataset.read", id=pkg["name"]),
            "method": extras.get("dataclic_method") or "",
            "organization": (pkg.get("organization") or {}).get("title") or "",
        })
    themes = [{"id": t, "label": label(t), "datasets": groups[t]} for t in known if t in groups]
    more = int(found.get("count") or 0) > len(found.get("results") or [])
    return themes, more


def territory_outline(perimeter_id: str) -> str:
    """SVG path of the territory (cached per process for a few minutes)."""
    cached = _OUTLINES.get(perimeter_id)
    if cached is not None and time.monotonic() - cached[0] < helpers.HOME_TTL_S:
        return cached[1]
    shown = helpers._call("dataclic_territory_show", {"id": perimeter_id, "geometry": True,
                                                      "tolerance": MAP_TOLERANCE})
    path = svg_path((shown or {}).get("geometry"), MAP_WIDTH, MAP_HEIGHT)
    _OUTLINES.clear()
    _OUTLINES[perimeter_id] = (time.monotonic(), path)
    return path


def home_block() -> dict[str, Any] | None:
    """What the home page shows of the portal's territory; None without a home territory."""
    home = helpers.default_perimeter()
    if home is None:
        return None
    link = helpers.home_territory_link() or {}
    themes, more = territory_datasets(home["id"])
    return {
        "territory": home,
        "title": tk._("Data for {name}").format(name=home["name"]),
        "themes": themes,
        "count": sum(len(t["datasets"]) for t in themes),
        "more": more,
        "search_url": link.get("url", ""),
        "map_path": territory_outline(home["id"]),
        "map_width": MAP_WIDTH,
        "map_height": MAP_HEIGHT,
        "map_label": tk._("Outline of {name}").format(name=home["name"]),
    }


def get_helpers() -> dict[str, Any]:
    return {"dataclic_home_block": home_block}
