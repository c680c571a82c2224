"""Settings, formats and shared messages of the CKAN-side extraction.

Messages stored in the database are plain English; they are translated when a record is
shown (``records.record_view``), since background jobs have no request locale.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ckan.plugins.toolkit as tk

MODES = ("filter", "intersects", "clip", "stats")
VECTOR_FORMATS = ("csv", "geojson", "gpkg", "shp", "parquet")
TABULAR_FORMATS = ("csv", "parquet")
# Gridded resources (NetCDF, GeoTIFF, DRIAS text): per-commune statistics or a clip.
GRID_FORMATS_BY_MODE = {"stats": ("csv", "geojson", "gpkg"), "clip": ("netcdf", "geotiff")}
GRID_FORMATS = ("csv", "geojson", "gpkg", "netcdf", "geotiff")
FORMATS = (*VECTOR_FORMATS, "netcdf", "geotiff")
EXTENSIONS = {"csv": "csv", "geojson": "geojson", "gpkg": "gpkg", "shp": "zip",
              "parquet": "parquet", "netcdf": "nc", "geotiff": "tif"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",
    "parquet": "application/vnd.apache.parquet",
    "netcdf": "application/x-netcdf",
    "geotiff": "image/tiff",
}
FORMAT_LABELS = {"csv": "CSV", "geojson": "GeoJSON", "gpkg": "GeoPackage", "shp": "SHP",
                 "parquet": "Parquet", "netcdf": "NetCDF", "geotiff": "GeoTIFF"}


def N_(message: str) -> str:
    """Marks a message stored in English and translated when shown (for extraction)."""
    return message


WORKER_LOST = N_("The worker running this extraction stopped answering twice (killed, out of "
                  "memory or restarted); the extraction was given up. Request it again to retry.")
JOB_TIMED_OUT = N_("The extraction took longer than the time allowed to background jobs; the "
                   "administrators can raise ckanext.dataclic.extract.job_timeout.")
JOB_LOST = N_("The background job of this extraction was lost before it started. Request the "
              "extraction again to retry.")
UNEXPECTED = N_("The extraction failed because of an unexpected error; the administrators "
                "can find the details in the worker's log.")
RESULT_REMOVED = N_("The result file of this extraction was removed")


class SourceError(Exception):
    """The resource's data cannot be read (missing upload, remote fetch refused or failed)."""


@dataclass(frozen=True)
class ExtractionSettings:
    sync_max_bytes: int
    max_input_bytes: int
    anonymous_max_input_bytes: int
    anonymous_max_jobs: int
    rate_limit: int
    rate_window: int
    trusted_proxies: tuple[str, ...]
    allowed_hosts: frozenset[str]
    connect_timeout: float
    read_timeout: float
    stale_after: int
    worker_timeout: float
    max_attempts: int
    job_timeout: int
    max_age_days: float
    max_total_mb: float
    auto_refresh: bool
    storage: Path
    index_min_bytes: int = 0


def _words(value: object) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value]  # type: ignore[union-attr]


def settings() -> ExtractionSettings:
    config = tk.config
    root = config.get("ckanext.dataclic.extract.storage_path") or ""
    if not root:
        base = config.get("ckan.storage_path") or ""
        if not base:
            raise SourceError("Set ckan.storage_path or ckanext.dataclic.extract.storage_path")
        root = str(Path(base) / "dataclic")
    return ExtractionSettings(
        sync_max_bytes=int(config.get("ckanext.dataclic.extract.sync_max_bytes")),
        max_input_bytes=int(config.get("ckanext.dataclic.extract.max_input_bytes")),
        anonymous_max_input_bytes=int(
            config.get("ckanext.dataclic.extract.anonymous_max_input_bytes")),
        anonymous_max_jobs=int(config.get("ckanext.dataclic.extract.anonymous_max_jobs")),
        rate_limit=int(config.get("ckanext.dataclic.extract.anonymous_rate_limit")),
        rate_window=int(config.get("ckanext.dataclic.extract.anonymous_rate_window")),
        trusted_proxies=tuple(_words(config.get("ckanext.dataclic.extract.trusted_proxies"))),
        allowed_hosts=frozenset(h.lower() for h in _words(
            config.get("ckanext.dataclic.extract.allowed_hosts"))),
        connect_timeout=float(config.get("ckanext.dataclic.extract.connect_timeout")),
        read_timeout=float(config.get("ckanext.dataclic.extract.read_timeout")),
        stale_after=int(config.get("ckanext.dataclic.extract.stale_after")),
        worker_timeout=float(config.get("ckanext.dataclic.extract.worker_timeout")),
        max_attempts=max(1, int(config.get("ckanext.dataclic.extract.max_attempts"))),
        job_timeout=int(config.get("ckanext.dataclic.extract.job_timeout")),
        max_age_days=float(config.get("ckanext.dataclic.extract.max_age_days")),
        max_total_mb=float(config.get("ckanext.dataclic.extract.max_total_mb")),
        auto_refresh=tk.asbool(config.get("ckanext.dataclic.extract.auto_refresh")),
        storage=Path(root),
        index_min_bytes=int(config.get("ckanext.dataclic.extract.index_min_bytes")),
    )


def translate(message: str) -> str:
    """``toolkit._`` where a request or app context exists (jobs have none)."""
    try:
        return tk._(message)
    except (RuntimeError, TypeError, AttributeError):
        return message


def invalid(field: str, message: str, **values: object) -> tk.ValidationError:
    """A validation error in the request's language; values are shortened and redacted."""
    from ckanext.dataclic.shown import shorten

    shown = {k: shorten(v) if isinstance(v, str) else v for k, v in values.items()}
    return tk.ValidationError({field: [translate(message).format(**shown)]})


def stored_message(message: str | None, detail: str | None) -> str | None:
    """A message stored in English, in the request's language: from its engine detail (a
    JSON ``ExtractionError.detail()``: template + values) when there is one."""
    if detail:
        import json

        from ckanext.dataclic.extract.errors import render_detail

        try:
            return render_detail(json.loads(detail), translate)
        except (ValueError, TypeError, AttributeError):
            pass
    return translate(message) if message else None


def error_detail(error: BaseException) -> str | None:
    """What to store beside an engine error's English text to translate it later."""
    detail = getattr(error, "detail", None)
    if not callable(detail):
        return None
    import json

    try:
        return json.dumps(detail(), ensure_ascii=False)
    except (TypeError, ValueError):  # the English text stands alone
        return None
