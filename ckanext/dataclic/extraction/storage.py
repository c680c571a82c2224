"""The extraction storage: results kept under a total size cap (least recently used
evicted as new results arrive, no cron needed), partial files of dead jobs, and the purge
of ``ckan dataclic purge``."""
from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ckanext.dataclic.extraction.settings import settings
from ckanext.dataclic.model import extraction as store

log = logging.getLogger(__name__)


@dataclass
class PurgeResult:
    records: int = 0
    bytes_freed: int = 0
    sources: int = 0
    partials: int = 0


def _cap_bytes(max_total_mb: float | None) -> int:
    conf = settings()
    return int((conf.max_total_mb if max_total_mb is None else max_total_mb) * 1024 * 1024)


def evict(max_total_mb: float | None = None, *, keep: str | None = None,
          result: PurgeResult | None = None) -> PurgeResult:
    """Delete the least recently used finished results until the others take at most
    ``max_total_mb`` (default ``ckanext.dataclic.extract.max_total_mb``). ``keep`` (the
    result just made) is never evicted. Run after every new result."""
    result = result or PurgeResult()
    cap = _cap_bytes(max_total_mb)
    total = store.total_result_size()
    if total <= cap:
        return result
    for record in store.purge_candidates():  # least recently used first
        if total <= cap:
            break
        if record["id"] == keep:
            continue
        total -= record.get("size") or 0
        _delete(record, result)
    if result.records:
        log.info("Evicted %s extraction results (%s bytes) to stay under %s bytes",
                 result.records, result.bytes_freed, cap)
    return result


def partial_files(extraction_id: str, resource_id: str | None = None) -> list[Path]:
    """The partial files a job of this extraction may have left: its result being written
    (``.<id>.<hex>.part.<ext>``) and its remote source being fetched."""
    root = settings().storage
    found = list((root / "results" / extraction_id[:2]).glob(f".{extraction_id}.*.part*"))
    if resource_id:
        found += list((root / "sources" / resource_id).glob(f"*.{extraction_id}.*"))
    return found


def remove_partials(extraction_id: str, resource_id: str | None = None) -> int:
    removed = 0
    for path in partial_files(extraction_id, resource_id):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def sweep_partials(result: PurgeResult) -> None:
    """Remove partial files whose extraction is not running any more (its job died)."""
    conf = settings()
    root = conf.storage
    running = {r["id"] for r in store.running_extractions()}
    grace = max(conf.worker_timeout, conf.read_timeout) * 2
    old = time.time() - grace
    results = root / "results"
    if results.is_dir():
        for path in results.glob("*/.*.part*"):
            owner = path.name[1:].split(".", 1)[0]
            if owner not in running:
                path.unlink(missing_ok=True)
                result.partials += 1
    sources = root / "sources"
    if sources.is_dir():
        for path in [*sources.glob("*/*.tmp"), *sources.glob("*/*.tmp.part")]:
            try:
                stale = path.stat().st_mtime < old
            except FileNotFoundError:
                continue
            parts = path.name.split(".")
            owner = parts[1] if len(parts) >= 4 else None
            if stale and owner not in running:
                path.unlink(missing_ok=True)
                result.partials += 1


def purge(max_age_days: float | None = None, max_total_mb: float | None = None) -> PurgeResult:
    """Delete results unused for ``max_age_days``, then the least recently used ones until
    the rest take at most ``max_total_mb``; fetched sources older than the age limit; and
    partial files of dead jobs."""
    conf = settings()
    age = conf.max_age_days if max_age_days is None else max_age_days
    cutoff = store.now() - datetime.timedelta(days=age)
    result = PurgeResult()
    for record in store.purge_candidates():
        if record["last_access"] < cutoff:
            _delete(record, result)
    evict(max_total_mb, result=result)
    sources = conf.storage / "sources"
    if sources.is_dir():
        limit = cutoff.replace(tzinfo=datetime.timezone.utc).timestamp()
        for path in sources.glob("*/*.data"):
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
                result.sources += 1
    sweep_partials(result)
    return result


def _delete(record: dict[str, Any], result: PurgeResult) -> None:
    if record.get("path"):
        Path(record["path"]).unlink(missing_ok=True)
    store.delete_extraction(record["id"])
    result.records += 1
    result.bytes_freed += record.get("size") or 0
