"""Extraction of CKAN resources: profiles, records, cache, source files, stale jobs, purge.

Shared by the actions (``logic/extraction_action.py``), the background jobs (``jobs.py``)
and the CLI. Messages stored in the database are plain English; they are translated when a
record is shown (``record_view``), since background jobs have no request locale.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ckan.plugins.toolkit as tk
from sqlalchemy.exc import SQLAlchemyError

from ckanext.dataclic.model import extraction as store

log = logging.getLogger(__name__)

MODES = ("filter", "intersects", "clip")
FORMATS = ("csv", "geojson", "gpkg", "shp", "parquet")
TABULAR_FORMATS = ("csv", "parquet")
EXTENSIONS = {"csv": "csv", "geojson": "geojson", "gpkg": "gpkg", "shp": "zip",
              "parquet": "parquet"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",
    "parquet": "application/vnd.apache.parquet",
}
FORMAT_LABELS = {"csv": "CSV", "geojson": "GeoJSON", "gpkg": "GeoPackage", "shp": "SHP",
                 "parquet": "Parquet"}
WORKER_LOST = ("The worker running this extraction stopped answering; it was probably "
               "killed or restarted. Request the extraction again to retry.")
JOB_LOST = ("The background job of this extraction was lost before it started. Request the "
            "extraction again to retry.")
UNEXPECTED = "The extraction failed because of an unexpected error; the administrators can " \
             "find the details in the worker's log."


class SourceError(Exception):
    """The resource's data cannot be read (missing upload, remote fetch refused or failed)."""


@dataclass(frozen=True)
class ExtractionSettings:
    sync_max_bytes: int
    max_input_bytes: int
    anonymous_max_input_bytes: int
    anonymous_max_jobs: int
    anonymous_max_results: int
    allowed_hosts: frozenset[str]
    connect_timeout: float
    read_timeout: float
    stale_after: int
    job_timeout: int
    max_age_days: float
    max_total_mb: int
    auto_refresh: bool
    storage: Path
    index_min_bytes: int = 0


def settings() -> ExtractionSettings:
    config = tk.config
    root = config.get("ckanext.dataclic.extract.storage_path") or ""
    if not root:
        base = config.get("ckan.storage_path") or ""
        if not base:
            raise SourceError("Set ckan.storage_path or ckanext.dataclic.extract.storage_path")
        root = str(Path(base) / "dataclic")
    hosts = config.get("ckanext.dataclic.extract.allowed_hosts") or []
    if isinstance(hosts, str):
        hosts = hosts.split()
    return ExtractionSettings(
        sync_max_bytes=int(config.get("ckanext.dataclic.extract.sync_max_bytes")),
        max_input_bytes=int(config.get("ckanext.dataclic.extract.max_input_bytes")),
        anonymous_max_input_bytes=int(
            config.get("ckanext.dataclic.extract.anonymous_max_input_bytes")),
        anonymous_max_jobs=int(config.get("ckanext.dataclic.extract.anonymous_max_jobs")),
        anonymous_max_results=int(
            config.get("ckanext.dataclic.extract.anonymous_max_results")),
        allowed_hosts=frozenset(h.lower() for h in hosts),
        connect_timeout=float(config.get("ckanext.dataclic.extract.connect_timeout")),
        read_timeout=float(config.get("ckanext.dataclic.extract.read_timeout")),
        stale_after=int(config.get("ckanext.dataclic.extract.stale_after")),
        job_timeout=int(config.get("ckanext.dataclic.extract.job_timeout")),
        max_age_days=float(config.get("ckanext.dataclic.extract.max_age_days")),
        max_total_mb=int(config.get("ckanext.dataclic.extract.max_total_mb")),
        auto_refresh=tk.asbool(config.get("ckanext.dataclic.extract.auto_refresh")),
        storage=Path(root),
        index_min_bytes=int(config.get("ckanext.dataclic.extract.index_min_bytes")),
    )


# -- resources --------------------------------------------------------------------------------
def site_context() -> dict[str, Any]:
    user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    return {"ignore_auth": True, "user": user["name"]}


def show_resource(resource_id: str) -> dict[str, Any]:
    return tk.get_action("resource_show")({"ignore_auth": True}, {"id": resource_id})


def upload_path(resource: dict[str, Any]) -> Path | None:
    """Where CKAN keeps an uploaded resource's file, or None for a remote URL."""
    if resource.get("url_type") != "upload":
        return None
    from ckan.lib import uploader

    upload = uploader.get_resource_uploader(dict(resource))
    if isinstance(upload, uploader.ResourceUpload):
        return Path(upload.get_path(resource["id"]))
    storage = getattr(upload, "storage", None)
    base = getattr(getattr(storage, "settings", None), "path", None)
    if base is None:
        raise SourceError("This storage of uploads cannot be read by the extraction")
    return Path(base) / str(upload.get_path(resource["id"]))


def content_version(resource: dict[str, Any]) -> str:
    """A fingerprint of the resource's content: it changes when the data may have changed."""
    parts: dict[str, Any] = {k: resource.get(k) for k in
                             ("url", "url_type", "hash", "size", "last_modified")}
    try:
        path = upload_path(resource)
    except SourceError:
        path = None
    if path is not None and path.is_file():
        stat = path.stat()
        parts["file"] = [stat.st_size, stat.st_mtime_ns]
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def known_input_size(resource: dict[str, Any]) -> int | None:
    path = upload_path(resource)
    if path is not None:
        return path.stat().st_size if path.is_file() else None
    size = resource.get("size")
    try:
        return int(size) if size not in (None, "") else None
    except (TypeError, ValueError):
        return None


def source_file(resource: dict[str, Any], *, max_bytes: int | None = None) -> Path:
    """A local file holding the resource's data: the upload, or the fetched remote URL.

    Remote files are fetched once per content version into the storage, with timeouts, a
    size cap and the host policy, and written atomically.
    """
    conf = settings()
    cap = max_bytes or conf.max_input_bytes
    path = upload_path(resource)
    if path is not None:
        if not path.is_file():
            raise SourceError("The uploaded file of this resource is missing from the storage")
        if path.stat().st_size > cap:
            raise SourceError(f"The file is over the {cap} byte limit of extractions")
        return _with_extension(path, conf.storage / "sources" / resource["id"])
    url = (resource.get("url") or "").strip()
    if not url:
        raise SourceError("This resource has neither an uploaded file nor a URL")
    from ckanext.dataclic.remote import (
        HostPolicy,
        RemoteClient,
        RemoteError,
        RemoteLimits,
    )

    folder = conf.storage / "sources" / resource["id"]
    target = folder / f"{content_version(resource)}.data"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    limits = RemoteLimits(connect_timeout=conf.connect_timeout, read_timeout=conf.read_timeout,
                          deadline=max(conf.job_timeout, 60), max_retries=1, backoff=0.5,
                          max_bytes=cap)
    client = RemoteClient(limits, HostPolicy(conf.allowed_hosts),
                          user_agent="ckanext-dataclic extraction")
    # A unique name per fetch: workers on other machines may fetch the same version at
    # the same time; each renames its complete file into place.
    partial = folder / f"{target.stem}.{secrets.token_hex(6)}.tmp"
    try:
        client.download(url, partial)
        os.replace(partial, target)
    except RemoteError as error:
        reason = error.reason.replace("ckanext.dataclic.harvest.allowed_hosts",
                                      "ckanext.dataclic.extract.allowed_hosts")
        raise SourceError(f"Cannot fetch {url}: {reason}") from error
    finally:
        client.close()
        partial.unlink(missing_ok=True)
    for old in folder.glob("*.data"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


MAGIC_EXTENSIONS = ((b"SQLite format 3\x00", ".gpkg"), (b"PK\x03\x04", ".zip"),
                    (b"fgb\x03", ".fgb"), (b"PAR1", ".parquet"))


def _with_extension(path: Path, folder: Path) -> Path:
    """CKAN stores uploads without an extension; GDAL wants one for some formats. Give it a
    symbolic link named after the content."""
    with path.open("rb") as handle:
        head = handle.read(16)
    suffix = next((ext for magic, ext in MAGIC_EXTENSIONS if head.startswith(magic)), None)
    if suffix is None:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / f"upload{suffix}"
    if link.is_symlink() and os.readlink(link) == str(path):
        return link
    temporary = folder / f".{secrets.token_hex(6)}{suffix}"
    os.symlink(path, temporary)
    os.replace(temporary, link)
    return link


# -- profiles ---------------------------------------------------------------------------------
def referential() -> Any:
    from ckanext.dataclic.model import active_referential

    return active_referential.get()


def allowed_modes(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    modes = []
    if profile.get("code_column"):
        modes.append("filter")
    if profile.get("geometry", "none") != "none":
        modes += ["intersects", "clip"]
    return modes


def allowed_formats(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    if profile.get("geometry", "none") != "none":
        return list(FORMATS)
    return list(TABULAR_FORMATS)


def detect(resource: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
    """Detect and store the profile of ``resource`` for its current content version."""
    from ckanext.dataclic.extract import ExtractionError, detect_profile

    version = content_version(resource)
    current = store.get_profile(resource["id"])
    if (not force and current is not None and current["content_version"] == version
            and current["status"] != "pending"
            # A detected profile without a coverage key (detected before coverages existed,
            # or corrected with a large file): detect again to compute it.
            and (current["status"] != "detected" or "coverage" in (current["profile"] or {}))):
        return current
    status, message, found = "detected", None, None
    try:
        path = source_file(resource)
        profile = detect_profile(path, referential())
        found = profile.to_dict()
        if not allowed_modes(found):
            status = "none"
            message = ("No commune-code column and no geometry were found in this file, so "
                       "it cannot be cut to a territory")
    except (ExtractionError, SourceError) as error:
        status, message = "error", str(error)
    except Exception:  # a reader library failing on a strange file
        log.exception("Profile detection of resource %s failed", resource["id"])
        status, message = "error", "The file could not be read to detect its profile"
    corrected = False
    if (current is not None and current.get("corrected") and current.get("profile")
            and found is not None and current["profile"].get("columns") == found.get("columns")):
        try:
            engine_profile(current["profile"])
            found, status, message, corrected = current["profile"], "detected", None, True
        except ExtractionError:
            pass
    if status == "detected" and found is not None:
        found = with_coverage(resource, found)
    store.save_profile(resource["id"], status=status, profile=found, message=message,
                       content_version=version, corrected=corrected)
    return store.get_profile(resource["id"]) or {}


COVERAGE_MAX_BYTES = 4 << 30


def engine_profile(stored: dict[str, Any]) -> Any:
    """The engine's profile from a stored one (which may carry a ``coverage``)."""
    from ckanext.dataclic.extract import ExtractionProfile

    return ExtractionProfile.from_dict({k: v for k, v in stored.items() if k != "coverage"})


def with_coverage(resource: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    """``profile`` with the file's coverage (codes present, rows per département, extent),
    computed by reading its code and coordinate columns once; without it when the file
    cannot be read or is over 4 GiB."""
    from ckanext.dataclic.extract.coverage import compute_coverage

    found: dict[str, Any] = {k: v for k, v in profile.items() if k != "coverage"}
    found["coverage"] = None   # tried: a null coverage is not computed again for this version
    try:
        path = source_file(resource)
        if path.stat().st_size <= COVERAGE_MAX_BYTES:
            found["coverage"] = compute_coverage(path, engine_profile(found))
    except Exception:  # a coverage is a bonus: the profile stands without it
        log.warning("No coverage for resource %s", resource.get("id"), exc_info=True)
    return found


TYING_FIELDS = ("format", "layer", "code_column", "code_slice", "geometry", "geometry_column",
                "lat_column", "lon_column", "point_column", "wkt_column", "crs", "delimiter",
                "encoding")


def keeps_coverage(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """A corrected profile keeps the coverage when the columns that tie rows to territory
    did not change."""
    return all(before.get(k) == after.get(k) for k in TYING_FIELDS)


def small_local_file(resource: dict[str, Any]) -> bool:
    """The resource's file is on this machine and small enough to read within a request."""
    path = local_source(resource)
    return path is not None and path.stat().st_size <= settings().sync_max_bytes


def local_source(resource: dict[str, Any]) -> Path | None:
    """The resource's file when it is already on this machine (never fetched here)."""
    try:
        path = upload_path(resource)
    except SourceError:
        return None
    if path is None:
        folder = settings().storage / "sources" / resource["id"]
        path = folder / f"{content_version(resource)}.data"
    return path if path.is_file() else None


def profile_view(resource_id: str, record: dict[str, Any] | None) -> dict[str, Any]:
    if record is None:
        return {"resource_id": resource_id, "status": "pending", "profile": None,
                "message": tk._("The profile of this resource has not been detected yet"),
                "modes": [], "formats": [], "geometric": False, "corrected": False}
    profile = record.get("profile")
    if profile and profile.get("coverage"):
        from ckanext.dataclic.extract.coverage import public_view

        profile = {**profile, "coverage": public_view(profile["coverage"])}
    message = record.get("message")
    if record["status"] == "pending":
        message = tk._("The profile of this resource is being detected")
    return {
        "resource_id": resource_id,
        "status": record["status"],
        "profile": profile,
        "message": tk._(message) if message else None,
        "modes": allowed_modes(profile) if record["status"] == "detected" else [],
        "formats": allowed_formats(profile) if record["status"] == "detected" else [],
        "geometric": bool(profile and profile.get("geometry", "none") != "none"),
        "corrected": bool(record.get("corrected")),
        "updated": _iso(record.get("updated")),
    }


# -- records ----------------------------------------------------------------------------------
def new_id() -> str:
    return secrets.token_urlsafe(24)


def slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "data"


def filename_for(resource: dict[str, Any], perimeter_name: str, fmt: str) -> str:
    name = resource.get("name") or Path(resource.get("url") or "").name or resource["id"]
    stem = re.sub(r"\.(csv|geojson|json|gpkg|zip|shp|parquet|txt|fgb)$", "", name, flags=re.IGNORECASE)
    return f"{slug(stem)[:80]}_{slug(perimeter_name)[:60]}.{EXTENSIONS[fmt]}"


def cache_key(resource_id: str, version: str, perimeter: str, vintage: str, mode: str,
              fmt: str, out_crs: str, enrich: bool) -> str:
    text = json.dumps([resource_id, version, perimeter, vintage, mode, fmt, out_crs, enrich])
    return hashlib.sha256(text.encode()).hexdigest()


def result_path(extraction_id: str, fmt: str) -> Path:
    folder = settings().storage / "results" / extraction_id[:2]
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{extraction_id}.{EXTENSIONS[fmt]}"


def download_url(extraction_id: str) -> str:
    site = (tk.config.get("ckan.site_url") or "").rstrip("/")
    root = (tk.config.get("ckan.root_path") or "").replace("{{LANG}}", "").rstrip("/")
    return f"{site}{root}/dataclic/extraction/{extraction_id}/download"


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def record_view(record: dict[str, Any], *, cached: bool = False) -> dict[str, Any]:
    done, total = record["progress_done"] or 0, record["progress_total"]
    percent = round(100.0 * done / total, 1) if total else None
    if record["status"] == "done":
        percent = 100.0
    report = json.loads(record["report"]) if record.get("report") else None
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
        "error": tk._(record["error"]) if record.get("error") else None,
        "download_url": download_url(record["id"]) if record["status"] == "done" else None,
        "filename": record.get("filename"),
        "size": record.get("size"),
        "created": _iso(record["created"]),
        "started": _iso(record.get("started")),
        "finished": _iso(record.get("finished")),
        "cached": cached,
    }


def expire_stale() -> list[str]:
    """Fail running records without a heartbeat and queued ones whose job vanished."""
    conf = settings()
    cutoff = store.now() - datetime.timedelta(seconds=conf.stale_after)
    failed = store.fail_stale(cutoff, WORKER_LOST)
    queued = [r for r in store.list_extractions(statuses=("queued",), limit=200)
              if r["created"] < cutoff]
    if queued:
        from ckan.lib.redis import connect_to_redis
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        connection = connect_to_redis()
        for record in queued:
            try:
                job = Job.fetch(record["job_id"] or "", connection=connection)
                lost = job.get_status() in ("failed", "stopped", "canceled")
            except NoSuchJobError:
                lost = True
            if lost and store.update_extraction(
                    record["id"], only_if_status=("queued",), status="failed",
                    error=JOB_LOST, finished=store.now()):
                failed.append(record["id"])
    return failed


class Heartbeat:
    """Writes progress and a heartbeat of a running record from a thread, a few times a
    minute: a record whose worker died stops beating and turns ``failed``."""

    def __init__(self, extraction_id: str, every: float) -> None:
        self.extraction_id = extraction_id
        self.every = every
        self.done = 0
        self.total: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"dataclic-heartbeat-{extraction_id[:8]}")

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = int(done), int(total) if total else None

    def _write(self) -> None:
        store.update_extraction(self.extraction_id, only_if_status=("running",),
                                heartbeat=store.now(), progress_done=self.done,
                                progress_total=self.total)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self._write()
            except SQLAlchemyError:  # the database may be restarting: the next beat retries
                log.warning("Heartbeat of extraction %s failed", self.extraction_id)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run(extraction_id: str) -> dict[str, Any] | None:
    """Run a queued extraction once: the first caller claims it, the others return."""
    from ckanext.dataclic.extract import ExtractionError, extract
    from ckanext.dataclic.territories import PerimeterError

    if not store.update_extraction(extraction_id, only_if_status=("queued",),
                                   status="running", started=store.now(),
                                   heartbeat=store.now()):
        return store.get_extraction(extraction_id)
    record = store.get_extraction(extraction_id)
    assert record is not None
    conf = settings()
    every = max(0.2, min(5.0, conf.stale_after / 4))
    output = result_path(extraction_id, record["format"])
    try:
        beat = Heartbeat(extraction_id, every)
        with beat:
            resource = show_resource(record["resource_id"])
            stored = store.get_profile(record["resource_id"])
            if not stored or not stored.get("profile"):
                raise SourceError("This resource has no extraction profile")
            profile = engine_profile(stored["profile"])
            ref = referential()
            perimeter = ref.resolve(record["perimeter"])
            path = source_file(resource)
            beat.total = path.stat().st_size
            result = extract(path, perimeter, output, referential=ref, mode=record["mode"],
                             output_format=record["format"], profile=profile,
                             enrich=record["enrich"], out_crs=record["out_crs"],
                             progress=beat.progress, index_dir=index_dir(resource["id"]))
        report = result.report.to_dict()
        store.update_extraction(
            extraction_id, only_if_status=("running",), status="done",
            finished=store.now(), report=json.dumps(report, ensure_ascii=False),
            path=str(output), size=output.stat().st_size,
            progress_done=beat.total or beat.done, progress_total=beat.total)
    except (ExtractionError, SourceError, PerimeterError, tk.ObjectNotFound) as error:
        reason = str(error) if not isinstance(error, tk.ObjectNotFound) else \
            "The resource of this extraction was deleted"
        _fail(extraction_id, reason, output)
    except Exception:
        log.exception("Extraction %s failed", extraction_id)
        _fail(extraction_id, UNEXPECTED, output)
    return store.get_extraction(extraction_id)


def _fail(extraction_id: str, reason: str, output: Path) -> None:
    output.unlink(missing_ok=True)
    store.update_extraction(extraction_id, only_if_status=("running",), status="failed",
                            error=reason, finished=store.now())


# -- indexes ---------------------------------------------------------------------------------
def index_dir(resource_id: str) -> Path:
    """Where the engine keeps the index of a resource's file (see ``build_index``)."""
    return settings().storage / "indexes" / resource_id


def wants_index(resource: dict[str, Any], record: dict[str, Any]) -> bool:
    """A detected CSV profile, on a file large enough to be worth an index."""
    limit = settings().index_min_bytes
    profile = record.get("profile") or {}
    if limit <= 0 or record.get("status") != "detected" or profile.get("format") != "csv":
        return False
    if profile.get("archive_member"):
        return False  # the engine indexes plain files only
    if not (profile.get("code_column") or profile.get("geometry") in ("latlon", "point_text")):
        return False
    path = local_source(resource)
    return path is not None and path.stat().st_size >= limit


def build_index(resource: dict[str, Any]) -> dict[str, Any] | None:
    """Build the engine's index of the resource's file for its current version; None when
    there is nothing to do (no profile, not worth it, or already built)."""
    from ckanext.dataclic.extract.engine import build_index as engine_build_index
    from ckanext.dataclic.extract.index import fresh_index_meta

    record = store.get_profile(resource["id"])
    if record is None or not wants_index(resource, record):
        return None
    path = source_file(resource)
    folder = index_dir(resource["id"])
    profile = engine_profile(record["profile"])
    built = fresh_index_meta(path, folder)
    if built is not None and built.get("profile") == profile.to_dict():
        return None  # this file version, read with this profile (a corrected one rebuilds)
    folder.mkdir(parents=True, exist_ok=True)
    _, meta = engine_build_index(path, referential=referential(), profile=profile,
                                 index_dir=folder)
    return meta


# -- purge ------------------------------------------------------------------------------------
@dataclass
class PurgeResult:
    records: int = 0
    bytes_freed: int = 0
    sources: int = 0


def purge(max_age_days: float | None = None, max_total_mb: int | None = None) -> PurgeResult:
    """Delete results unused for ``max_age_days``, then the least recently used ones until
    the rest take at most ``max_total_mb``; and fetched sources older than the age limit."""
    conf = settings()
    age = conf.max_age_days if max_age_days is None else max_age_days
    total_cap = (conf.max_total_mb if max_total_mb is None else max_total_mb) * 1024 * 1024
    cutoff = store.now() - datetime.timedelta(days=age)
    result = PurgeResult()
    kept: list[dict[str, Any]] = []
    for record in store.purge_candidates():
        if record["last_access"] < cutoff:
            _delete(record, result)
        else:
            kept.append(record)
    total = sum(r["size"] or 0 for r in kept)
    for record in kept:  # least recently used first
        if total <= total_cap:
            break
        total -= record["size"] or 0
        _delete(record, result)
    sources = conf.storage / "sources"
    if sources.is_dir():
        limit = cutoff.replace(tzinfo=datetime.timezone.utc).timestamp()
        for path in sources.glob("*/*.data"):
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
                result.sources += 1
    return result


def _delete(record: dict[str, Any], result: PurgeResult) -> None:
    if record.get("path"):
        Path(record["path"]).unlink(missing_ok=True)
    store.delete_extraction(record["id"])
    result.records += 1
    result.bytes_freed += record.get("size") or 0


# -- requests ---------------------------------------------------------------------------------
def translate(message: str) -> str:
    """``toolkit._`` where a request or app context exists (jobs have none)."""
    try:
        return tk._(message)
    except (RuntimeError, TypeError, AttributeError):
        return message


@dataclass
class ExtractionRequest:
    resource: dict[str, Any]
    perimeter: str
    format: str
    mode: str | None = None
    out_crs: str | None = None
    enrich: bool = False
    user_id: str | None = None
    client: str | None = None
    anonymous: bool = False


def _invalid(field: str, message: str, **values: Any) -> tk.ValidationError:
    return tk.ValidationError({field: [translate(message).format(**values)]})


def usable_profile(resource: dict[str, Any]) -> dict[str, Any]:
    """The stored profile of a resource, detected now when the file is small and local."""
    record = store.get_profile(resource["id"])
    version = content_version(resource)
    if record is None or record["status"] == "pending" or record["content_version"] != version:
        size = known_input_size(resource)
        if upload_path(resource) is not None and size is not None \
                and size <= settings().sync_max_bytes:
            record = detect(resource, force=True)
        elif record is None or record["status"] == "pending":
            _retry_lost_detection(resource, record, version)
            raise _invalid("resource_id", "The profile of this resource is still being "
                           "detected; try again in a moment")
    if record["status"] != "detected" or not record.get("profile"):
        raise _invalid("resource_id", "This resource cannot be extracted: {reason}",
                       reason=translate(record.get("message") or "no usable profile"))
    return record


def _retry_lost_detection(resource: dict[str, Any], record: dict[str, Any] | None,
                          version: str) -> None:
    """A detection pending for longer than ``stale_after`` (its job was lost, Redis was
    down): enqueue it again."""
    cutoff = store.now() - datetime.timedelta(seconds=settings().stale_after)
    if record is not None and record["updated"] > cutoff:
        return
    from ckanext.dataclic import jobs

    store.save_profile(resource["id"], status="pending", profile=None, message=None,
                       content_version=version)
    tk.enqueue_job(jobs.detect_profile, [resource["id"]],
                   title=f"dataclic profile {resource['id'][:8]}")


def request_extraction(req: ExtractionRequest, *, inline: bool | None = None
                       ) -> tuple[dict[str, Any], bool]:
    """Validate, then find or create the extraction; run it now or enqueue it.

    Returns ``(record, cached)``; ``cached`` when an identical finished extraction answered.
    ``inline=None`` runs small uploaded inputs within the call and enqueues the rest.
    """
    from ckanext.dataclic.extract.profile import normalise_crs
    from ckanext.dataclic.territories import PerimeterError

    conf = settings()
    resource = req.resource
    fmt = (req.format or "").lower()
    if fmt not in FORMATS:
        raise _invalid("format", "Unknown format {value}; choose one of {accepted}",
                       value=req.format, accepted=", ".join(FORMATS))
    ref = referential()
    try:
        perimeter = ref.resolve(req.perimeter)
    except PerimeterError as error:
        raise _invalid("perimeter", "This perimeter does not resolve: {reason}",
                       reason=str(error)) from error
    record = usable_profile(resource)
    profile = record["profile"]
    modes = allowed_modes(profile)
    mode = req.mode or modes[0]
    if mode not in MODES:
        raise _invalid("mode", "Unknown mode {value}; choose one of {accepted}",
                       value=mode, accepted=", ".join(MODES))
    if mode not in modes:
        raise _invalid("mode", "The {value} mode does not fit this resource; possible "
                       "modes: {accepted}", value=mode, accepted=", ".join(modes))
    if fmt not in allowed_formats(profile):
        raise _invalid("format", "The {value} format needs geometry, which this resource "
                       "does not have; possible formats: {accepted}", value=fmt,
                       accepted=", ".join(allowed_formats(profile)))
    try:
        out_crs = normalise_crs(req.out_crs or "EPSG:4326")
    except Exception as error:
        raise _invalid("out_crs", "Unknown coordinate reference system {value}",
                       value=req.out_crs) from error
    size = known_input_size(resource)
    limit = conf.anonymous_max_input_bytes if req.anonymous else conf.max_input_bytes
    if size is not None and size > limit:
        raise _invalid("resource_id", "This file is too large to extract here ({size} bytes, "
                       "limit {limit})", size=size, limit=limit)
    version = content_version(resource)
    key = cache_key(resource["id"], version, perimeter.id, ref.vintage, mode, fmt, out_crs,
                    bool(req.enrich))
    existing = store.find_by_cache_key(key)
    if existing is None and req.anonymous and req.client:
        if store.count_active_for_client(req.client) >= conf.anonymous_max_jobs:
            raise _invalid("resource_id", "You already have {count} extractions in progress; "
                           "wait for them to finish", count=conf.anonymous_max_jobs)
        if store.count_kept_for_client(req.client) >= conf.anonymous_max_results:
            raise _invalid("resource_id", "You have reached the number of extraction results "
                           "kept for anonymous visitors; log in or try again later")
    created_at = store.now()
    record = store.insert_extraction({
        "id": new_id(), "cache_key": key, "resource_id": resource["id"],
        "package_id": resource["package_id"], "perimeter": perimeter.id,
        "perimeter_name": perimeter.name, "vintage": ref.vintage, "mode": mode,
        "format": fmt, "out_crs": out_crs, "enrich": bool(req.enrich), "status": "queued",
        "progress_done": 0, "progress_total": size, "progress_unit": "bytes",
        "filename": filename_for(resource, perimeter.name, fmt),
        "user_id": req.user_id, "client": req.client, "created": created_at,
        "last_access": created_at,
    })
    created = record.pop("_created")
    if not created and record["status"] == "done" and not Path(record["path"] or "").is_file():
        # The result file was removed by hand: fail the record and extract again.
        store.update_extraction(record["id"], status="failed",
                                error="The result file of this extraction was removed")
        return request_extraction(req, inline=inline)
    if not created:
        store.update_extraction(record["id"], last_access=store.now())
        return record, record["status"] == "done"
    run_now = inline if inline is not None else (
        upload_path(resource) is not None and size is not None
        and size <= conf.sync_max_bytes)
    if run_now:
        return run(record["id"]) or record, False
    from ckanext.dataclic import jobs

    job = tk.enqueue_job(jobs.run_extraction, [record["id"]],
                         title=f"dataclic extraction {record['id'][:8]}",
                         rq_kwargs={"timeout": conf.job_timeout})
    store.update_extraction(record["id"], job_id=job.id)
    return store.get_extraction(record["id"]) or record, False
