"""What the "Extract for a territory" panel and the provenance box show for gridded resources
(NetCDF, GeoTIFF, DRIAS text exports): modes, formats per mode, variables, dimension labels,
and the grid provenance of a published extract, in the page's language.

Kept apart from helpers.py (vector/tabular panel) so each module stays short; helpers.py
calls :func:`grid_panel` when the profile says ``grid: true``.
"""
from __future__ import annotations

import re
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.grid_provenance import json_dict

# Formats of grid outputs the panel knows how to label, in the order it offers them.
GRID_FORMAT_LABELS = {
    "csv": "CSV",
    "geojson": "GeoJSON",
    "gpkg": "GeoPackage",
    "netcdf": "NetCDF",
    "geotiff": "GeoTIFF",
}
# A dimension with more labels than this is kept whole, without a checkbox per label (a
# daily file has thousands of time steps).
MAX_LABEL_CHOICES = 60
# Grid provenance written by dataclic_publish (extraction/publication.py), shown on the
# dataset page.
GRID_PROVENANCE_KEYS = (
    "dataclic_grid",
    "dataclic_grid_crs",
    "dataclic_variables",
    "dataclic_labels",
    "dataclic_threshold",
    "dataclic_grid_method",
)
_GRID_TEXT = re.compile(r"^(\d+)x(\d+) cells of (\S+) x (\S+)$")


def grid_mode_labels() -> dict[str, str]:
    return {"stats": tk._("Statistics per commune"), "clip": tk._("Clip the grid")}


def _method_labels() -> dict[str, str]:
    """The engine's method (GridReport.method) as readers of the dataset page see it."""
    return {
        "exact cell-coverage area weights (shapely/GEOS), sparse products": tk._(
            "Area-weighted statistics from the exact share of each grid cell inside each "
            "commune (shapely/GEOS), applied as sparse products"),
    }


def grid_panel(shown: dict[str, Any], resource_id: str) -> dict[str, Any] | None:
    """The panel's choices for a grid profile (``dataclic_profile_show`` with ``grid: true``)."""
    labels = grid_mode_labels()
    modes = [m for m in shown.get("modes") or [] if m in labels]
    by_mode = shown.get("formats_by_mode") or {}
    formats_by_mode = {m: [f for f in by_mode.get(m) or [] if f in GRID_FORMAT_LABELS]
                       for m in modes}
    modes = [m for m in modes if formats_by_mode[m]]
    if not modes:
        return None
    ordered = [f for f in GRID_FORMAT_LABELS if any(f in fs for fs in formats_by_mode.values())]
    profile = shown.get("profile") or {}
    variables = []
    for var in profile.get("variables") or []:
        if not isinstance(var, dict) or not var.get("name"):
            continue
        variables.append({"name": var["name"], "dims": list(var.get("dims") or []),
                          "long_name": var.get("long_name") or "",
                          "units": var.get("units") or ""})
    used = list(dict.fromkeys(d for v in variables for d in v["dims"]))
    dimensions = []
    for name in used:
        values = [str(v) for v in (profile.get("dimensions") or {}).get(name) or []]
        dimensions.append({"name": name, "labels": values,
                           "choose": 1 < len(values) <= MAX_LABEL_CHOICES,
                           "first": values[0] if values else "",
                           "last": values[-1] if values else ""})
    return {
        "resource_id": resource_id,
        "grid": True,
        "geometric": False,
        "formats": [{"value": f, "label": GRID_FORMAT_LABELS[f],
                     "modes": [m for m in modes if f in formats_by_mode[m]]} for f in ordered],
        "formats_by_mode": formats_by_mode,
        "modes": [{"value": m, "label": labels[m]} for m in modes],
        "variables": variables,
        "dimensions": dimensions,
        "crs": [],
        "bounds": None,
        "departements": [],
    }


def grid_text(value: str | None) -> str:
    """"143x134 cells of 8000 x 8000" (the engine's report) in the page's language."""
    found = _GRID_TEXT.match((value or "").strip())
    if not found:
        return value or ""
    nx, ny, dx, dy = found.groups()
    return tk._("{nx} × {ny} cells of {dx} × {dy}").format(nx=nx, ny=ny, dx=dx, dy=dy)


def labels_text(value: str | None) -> list[dict[str, str]]:
    """The labels kept per dimension ({dimension: [labels] or {count, first, last}}) as
    lines "horizon: H1, H2" / "time: 365 values, from 2050-01-01 to 2050-12-31"."""
    lines = []
    for dim, kept in json_dict(value).items():
        if isinstance(kept, list):
            text = ", ".join(str(k) for k in kept)
        elif isinstance(kept, dict) and not kept.get("first"):
            text = tk._("{count} values").format(count=kept.get("count", ""))
        elif isinstance(kept, dict):
            text = tk._("{count} values, from {first} to {last}").format(
                count=kept.get("count", ""), first=kept.get("first", ""),
                last=kept.get("last", ""))
        else:
            text = str(kept)
        lines.append({"dimension": str(dim), "text": text})
    return lines


def grid_origin(facts: dict[str, Any]) -> dict[str, Any]:
    """The grid part of one published extract's provenance, ready to show (empty when the
    extract does not come from a grid)."""
    if not facts.get("dataclic_grid"):
        return {}
    method = facts.get("dataclic_grid_method") or ""
    mode = facts.get("dataclic_mode") or ""
    return {
        "grid": True,
        "grid_text": grid_text(facts.get("dataclic_grid")),
        "grid_crs": facts.get("dataclic_grid_crs") or "",
        "variables": facts.get("dataclic_variables") or "",
        "labels": labels_text(facts.get("dataclic_labels")),
        "threshold": facts.get("dataclic_threshold") or "",
        "method": _method_labels().get(method, method),
        "mode_label": grid_mode_labels().get(mode, mode),
    }


def grid_panel_strings(plural: Any) -> dict[str, Any]:
    """Messages of the panel's script for grids (``plural`` is helpers._plural)."""
    return {
        "grid_choose_variable": tk._("Choose at least one variable"),
        "grid_choose_label": tk._("Choose at least one value of {dimension}"),
        "grid_bad_threshold": tk._("The threshold must be a number"),
        "grid_communes": tk._("Communes: {count}"),
        "grid_layers": tk._("Layers: {count}"),
        "grid_rows": tk._("Rows written: {count}"),
        "grid_variables": tk._("Variables: {names}"),
        "grid_outside": plural("Commune outside the grid: {codes}",
                               "Communes outside the grid ({count}): {codes}"),
        "grid_threshold": tk._("Threshold: {value}"),
        "grid_preview": plural("{count} commune of {name} will get its values",
                               "{count} communes of {name} will get their values"),
        "grid_preview_none": tk._("The grid does not cover this territory"),
    }
