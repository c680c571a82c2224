"""Running extractions in background jobs, and noticing the ones whose worker died.

A running extraction writes a heartbeat (and its progress) every ``worker_timeout / 5``
seconds from a thread of the work horse. It is declared dead when RQ reports its job
failed or stopped (the work horse was killed while its worker survived: noticed at once),
or when its heartbeat is older than ``worker_timeout`` seconds (the whole worker or machine
died). A dead extraction is queued again, once (``max_attempts``): any live worker takes
it; only a second death fails the record. Each attempt owns the record through its
``attempts`` number, so a late answer of a presumed-dead attempt changes nothing.
"""
from __future__ import annotations

import datetime
import json
import logging
import secrets
import threading
from pathlib import Path
from typing import Any, Self

import ckan.plugins.toolkit as tk
from sqlalchemy.exc import SQLAlchemyError

from ckanext.dataclic.extraction import grids, storage
from ckanext.dataclic.extraction.indexes import index_dir
from ckanext.dataclic.extraction.profiles import engine_profile, referential
from ckanext.dataclic.extraction.records import result_path
from ckanext.dataclic.extraction.settings import (
    JOB_LOST,
    JOB_TIMED_OUT,
    UNEXPECTED,
    WORKER_LOST,
    SourceError,
    error_detail,
    settings,
)
from ckanext.dataclic.extraction.sources import show_resource, source_file
from ckanext.dataclic.model import extraction as store

log = logging.getLogger(__name__)

RECOVER_EVERY_BEATS = 5


def beat_interval(worker_timeout: float) -> float:
    return max(0.2, worker_timeout / 5)


def new_job_id(extraction_id: str, attempt: int = 0) -> str:
    return f"dataclic-extraction-{extraction_id[:12]}-{attempt}-{secrets.token_hex(4)}"


def enqueue(extraction_id: str, job_id: str | None = None) -> str:
    """Queue the job of an extraction; the job id is written to the record first so that
    a queued record always names its job."""
    from ckanext.dataclic import jobs

    if job_id is None:
        job_id = new_job_id(extraction_id)
        store.update_extraction(extraction_id, job_id=job_id)
    tk.enqueue_job(jobs.run_extraction, [extraction_id],
                   title=f"dataclic extraction {extraction_id[:8]}",
                   rq_kwargs={"timeout": settings().job_timeout, "job_id": job_id})
    return job_id


class Heartbeat:
    """Writes progress and a heartbeat of a running record from a thread; every few beats
    it also looks for other extractions whose worker died (so that they are retried even
    when nobody polls them)."""

    def __init__(self, extraction_id: str, attempt: int, every: float) -> None:
        self.extraction_id = extraction_id
        self.attempt = attempt
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
                                only_if_attempts=self.attempt, heartbeat=store.now(),
                                progress_done=self.done, progress_total=self.total)

    def _run(self) -> None:
        beats = 0
        while not self._stop.wait(self.every):
            beats += 1
            try:
                self._write()
                if beats % RECOVER_EVERY_BEATS == 0:
                    recover_dead()
            except SQLAlchemyError:  # the database may be restarting: the next beat retries
                log.warning("Heartbeat of extraction %s failed", self.extraction_id)
            except Exception:  # Redis down while recovering others: not this job's problem
                log.warning("Recovery of dead extractions failed", exc_info=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run(extraction_id: str) -> dict[str, Any] | None:
    """Run a queued extraction once: the first caller claims it, the others return."""
    from ckanext.dataclic.extract import ExtractionError, extract
    from ckanext.dataclic.territories import PerimeterError

    record = store.get_extraction(extraction_id)
    if record is None or record["status"] != "queued":
        return record
    attempt = (record.get("attempts") or 0) + 1
    if not store.update_extraction(extraction_id, only_if_status=("queued",),
                                   only_if_attempts=attempt - 1, status="running",
                                   attempts=attempt, started=store.now(),
                                   heartbeat=store.now(), progress_done=0):
        return store.get_extraction(extraction_id)
    conf = settings()
    output = result_path(extraction_id, record["format"])
    storage.remove_partials(extraction_id, record["resource_id"])  # of a dead attempt
    mine = {"only_if_status": ("running",), "only_if_attempts": attempt}
    try:
        with Heartbeat(extraction_id, attempt, beat_interval(conf.worker_timeout)) as beat:
            resource = show_resource(record["resource_id"])
            stored = store.get_profile(record["resource_id"])
            if not stored or not stored.get("profile"):
                raise SourceError("This resource has no extraction profile")
            ref = referential()
            perimeter = ref.resolve(record["perimeter"])
            path = source_file(resource, owner=extraction_id)
            if grids.is_grid(stored["profile"]):  # progress in layers, told by the engine
                report = grids.run(path, perimeter, output, ref, record, stored["profile"],
                                   beat.progress)
            else:
                beat.total = path.stat().st_size
                result = extract(path, perimeter, output, referential=ref,
                                 mode=record["mode"], output_format=record["format"],
                                 profile=engine_profile(stored["profile"]),
                                 enrich=record["enrich"], out_crs=record["out_crs"],
                                 progress=beat.progress, index_dir=index_dir(resource["id"]))
                report = result.report.to_dict()
        if store.update_extraction(
                extraction_id, **mine, status="done", finished=store.now(),
                report=json.dumps(report, ensure_ascii=False), path=str(output),
                size=output.stat().st_size, progress_done=beat.total or beat.done,
                progress_total=beat.total, last_access=store.now()):
            storage.evict(keep=extraction_id)
    except (ExtractionError, SourceError, PerimeterError, tk.ObjectNotFound) as error:
        reason = str(error) if not isinstance(error, tk.ObjectNotFound) else \
            "The resource of this extraction was deleted"
        _fail(extraction_id, attempt, reason, output, error_detail(error))
    except Exception as error:
        if type(error).__name__ == "JobTimeoutException":  # RQ's job timeout
            _fail(extraction_id, attempt, JOB_TIMED_OUT, output)
        else:
            log.exception("Extraction %s failed", extraction_id)
            _fail(extraction_id, attempt, UNEXPECTED, output)
    return store.get_extraction(extraction_id)


def _fail(extraction_id: str, attempt: int, reason: str, output: Path,
          detail: str | None = None) -> None:
    """Fail the record (``detail``: the engine's template and values, to show the reason
    in the reader's language) and remove any output."""
    if store.update_extraction(extraction_id, only_if_status=("running",),
                               only_if_attempts=attempt, status="failed", error=reason,
                               error_detail=detail, finished=store.now()):
        output.unlink(missing_ok=True)


# -- dead workers ----------------------------------------------------------------------------
def _rq_connection() -> Any:
    from ckan.lib.redis import connect_to_redis

    return connect_to_redis()


def _job_died(job_id: str | None, connection: Any) -> bool:
    """RQ says the job stopped without finishing (its work horse was killed: the worker
    that survived it marked it failed)."""
    if not job_id:
        return False
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        status = Job.fetch(job_id, connection=connection).get_status()
    except NoSuchJobError:
        return False  # expired; the heartbeat decides
    return str(getattr(status, "value", status)) in ("failed", "stopped", "canceled")


def recover_dead() -> list[str]:
    """Queue again (once) or fail the running extractions whose worker died; returns the
    ids handled."""
    running = store.running_extractions()
    if not running:
        return []
    conf = settings()
    cutoff = store.now() - datetime.timedelta(seconds=conf.worker_timeout)
    connection = None
    handled = []
    for record in running:
        beat = record["heartbeat"] or record["started"] or record["created"]
        dead = beat < cutoff
        if not dead and record.get("job_id"):
            connection = connection or _rq_connection()
            dead = _job_died(record["job_id"], connection)
        if dead and _handle_dead(record, conf.max_attempts):
            handled.append(record["id"])
    return handled


def _handle_dead(record: dict[str, Any], max_attempts: int) -> bool:
    attempts = record.get("attempts") or 0
    owned = {"only_if_status": ("running",), "only_if_attempts": attempts}
    if attempts < max_attempts:
        job_id = new_job_id(record["id"], attempts)
        if not store.update_extraction(record["id"], **owned, status="queued", started=None,
                                       heartbeat=None, progress_done=0, job_id=job_id):
            return False  # another process handled it
        storage.remove_partials(record["id"], record["resource_id"])
        log.warning("The worker of extraction %s died (attempt %s); queued again",
                    record["id"], attempts)
        try:
            enqueue(record["id"], job_id)
        except Exception:  # Redis down: the queued record turns failed later (JOB_LOST)
            log.exception("Cannot queue extraction %s again", record["id"])
        return True
    if not store.update_extraction(record["id"], **owned, status="failed", error=WORKER_LOST,
                                   finished=store.now()):
        return False
    storage.remove_partials(record["id"], record["resource_id"])
    log.warning("The worker of extraction %s died again; the extraction failed", record["id"])
    return True


def expire_stale() -> list[str]:
    """Retry or fail running records whose worker died, and fail queued ones whose job
    vanished; returns the ids changed."""
    changed = recover_dead()
    conf = settings()
    cutoff = store.now() - datetime.timedelta(seconds=conf.stale_after)
    queued = [r for r in store.list_extractions(statuses=("queued",), limit=200)
              if r["created"] < cutoff]
    if queued:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        connection = _rq_connection()
        for record in queued:
            try:
                job = Job.fetch(record["job_id"] or "", connection=connection)
                lost = str(getattr(job.get_status(), "value", job.get_status())) in (
                    "failed", "stopped", "canceled")
            except NoSuchJobError:
                lost = True
            if lost and store.update_extraction(
                    record["id"], only_if_status=("queued",), status="failed",
                    error=JOB_LOST, finished=store.now()):
                changed.append(record["id"])
    return changed
