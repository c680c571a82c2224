"""The grid provenance of a published extract (issue #16): what dataclic_publish writes,
besides the common provenance, when the extraction came from a gridded resource — the grid,
its CRS, the variables, the dimension labels kept, the threshold and the method — and the
grid choices a refresh repeats. Read from the record's report (the engine's GridReport) and
options; no CKAN import.
"""
from __future__ import annotations

import json
from typing import Any


def json_dict(value: Any) -> dict[str, Any]:
    """A JSON column of the record (text, or already decoded), as a dict."""
    if isinstance(value, dict):
        return value
    try:
        decoded = json.loads(value or "{}")
    except (TypeError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def is_grid_report(report: dict[str, Any]) -> bool:
    """A grid extraction's report (the engine's GridReport) rather than a vector one."""
    return report.get("kind") == "grid" or ("grid" in report and "variables" in report)


def grid_options(record: dict[str, Any]) -> dict[str, Any]:
    """The grid choices of an extraction (variables, labels, threshold, wide), as asked."""
    options = json_dict(record.get("options"))
    return {k: options[k] for k in ("variables", "labels", "threshold", "wide")
            if options.get(k) not in (None, "", [], {})}


# More labels than this are summed up as {count, first, last} (a daily file has thousands).
MAX_LABELS_LISTED = 60


def labels_summary(by_dimension: dict[str, Any]) -> str:
    """``dataclic_labels``: JSON {dimension: [labels kept]}, or {dimension: {count, first,
    last}} past ``MAX_LABELS_LISTED`` labels (or {count} when the labels are unknown). The
    same for published extracts and for grids the territorial harvest publishes."""
    kept: dict[str, Any] = {}
    for dim, labels in by_dimension.items():
        if isinstance(labels, int):
            kept[dim] = {"count": labels}
        elif len(labels) <= MAX_LABELS_LISTED:
            kept[dim] = [str(label) for label in labels]
        else:
            kept[dim] = {"count": len(labels), "first": str(labels[0]),
                         "last": str(labels[-1])}
    return json.dumps(kept, ensure_ascii=False) if kept else ""


def _labels_kept(report: dict[str, Any], options: dict[str, Any]) -> str:
    """The labels kept of the dimensions of the variables extracted: those chosen, else the
    report's (every label of the dimension)."""
    chosen = options.get("labels")
    if isinstance(chosen, str):
        chosen = json_dict(chosen)
    chosen = chosen if isinstance(chosen, dict) else {}
    known = report.get("labels") or {}
    kept: dict[str, Any] = {}
    for dim, count in (report.get("dimensions") or {}).items():
        labels = chosen.get(dim) or known.get(dim)
        kept[dim] = labels if isinstance(labels, list) and labels else count
    return labels_summary(kept)


def grid_provenance(record: dict[str, Any], report: dict[str, Any]) -> dict[str, str]:
    """What a published grid extract says of its origin, besides the common provenance:
    grid, CRS, variables, labels kept, threshold, method."""
    if not is_grid_report(report):
        return {}
    options = grid_options(record)
    threshold = report.get("threshold", options.get("threshold"))
    return {
        "dataclic_grid": str(report.get("grid") or ""),
        "dataclic_grid_crs": str(report.get("crs") or ""),
        "dataclic_variables": ", ".join(report.get("variables") or []),
        "dataclic_labels": _labels_kept(report, options),
        "dataclic_threshold": "" if threshold is None else f"{float(threshold):g}",
        "dataclic_grid_method": str(report.get("method") or ""),
    }
