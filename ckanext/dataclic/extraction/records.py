"""Extraction records: identifiers, file names, cache keys, result paths and the public
view of a record (the contract of ``docs/extraction.md``)."""
from __future__ import annotations

import datetime
import hashlib
import json
import re
import secrets
import unicodedata
from pathlib import Path
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.extraction.settings import EXTENSIONS, settings, stored_message


def new_id() -> str:
    return secrets.token_urlsafe(24)


def slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "data"


def filename_for(resource: dict[str, Any], perimeter_name: str, fmt: str) -> str:
    name = resource.get("name") or Path(resource.get("url") or "").name or resource["id"]
    stem = re.sub(r"\.(csv|geojson|json|gpkg|zip|shp|parquet|txt|fgb|nc|nc4|tif|tiff)$", "", name, flags=re.IGNORECASE)
    return f"{slug(stem)[:80]}_{slug(perimeter_name)[:60]}.{EXTENSIONS[fmt]}"


def cache_key(resource_id: str, version: str, perimeter: str, vintage: str, mode: str,
              fmt: str, out_crs: str, enrich: bool,
              options: dict[str, Any] | None = None) -> str:
    """The key of identical extractions; ``options`` (grid variables, labels, threshold,
    wide) are part of it when given."""
    parts: list[Any] = [resource_id, version, perimeter, vintage, mode, fmt, out_crs, enrich]
    if options:
        parts.append(options)
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def result_path(extraction_id: str, fmt: str) -> Path:
    folder = settings().storage / "results" / extraction_id[:2]
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{extraction_id}.{EXTENSIONS[fmt]}"


def download_url(extraction_id: str) -> str:
    site = (tk.config.get("ckan.site_url") or "").rstrip("/")
    root = (tk.config.get("ckan.root_path") or "").replace("{{LANG}}", "").rstrip("/")
    return f"{site}{root}/dataclic/extraction/{extraction_id}/download"


def iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def record_view(record: dict[str, Any], *, cached: bool = False) -> dict[str, Any]:
    done, total = record["progress_done"] or 0, record["progress_total"]
    percent = round(100.0 * done / total, 1) if total else None
    if record["status"] == "done":
        percent = 100.0
    report = json.loads(record["report"]) if record.get("report") else None
    options = json.loads(record["options"]) if record.get("options") else None
    return {
        "id": record["id"],
        "resource_id": record["resource_id"],
        "package_id": record["package_id"],
        "perimeter": record["perimeter"],
        "perimeter_name": record["perimeter_name"],
        "vintage": record["vintage"],
        "mode": record["mode"],
        "format": record["format"],
        "out_crs": record["out_crs"],
        "enrich": record["enrich"],
        "status": record["status"],
        "progress": {"done": done, "total": total, "unit": record["progress_unit"],
                     "percent": percent},
        "report": report,
        "options": options,
        "error": stored_message(record.get("error"), record.get("error_detail")),
        "download_url": download_url(record["id"]) if record["status"] == "done" else None,
        "filename": record.get("filename"),
        "size": record.get("size"),
        "created": iso(record["created"]),
        "started": iso(record.get("started")),
        "finished": iso(record.get("finished")),
        "cached": cached,
    }

