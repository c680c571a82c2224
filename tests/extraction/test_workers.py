"""Real `ckan jobs worker` processes share extraction jobs; the extraction of a worker
killed with SIGKILL is noticed within seconds and retried once on another worker, and only
a second death fails it."""
from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from ckan.tests import factories

from ckanext.dataclic.model import extraction as store

from .conftest import communes_csv, gironde_and_landes
from .test_actions import call

pytestmark = pytest.mark.usefixtures("extraction_env")

ROOT = Path(__file__).resolve().parents[2]
CKAN = Path(sys.executable).with_name("ckan")


class SlowServer:
    """Serves one CSV; ``/slow`` answers after a pause, ``/hang`` sends a little and stalls,
    ``/once`` stalls the first time only."""

    def __init__(self, body: bytes) -> None:
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.hits[self.path] += 1
                if self.path.startswith("/hang") or (
                        self.path.startswith("/once") and owner.hits[self.path] == 1):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:100])
                    self.wfile.flush()
                    owner.release.wait(30)
                    return
                time.sleep(0.4)
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# CKAN 2.11's CLI reads logging sections from the ini it is given (2.12 does not need them).
LOGGING_SECTIONS = """
[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""


@pytest.fixture()
def worker_ini(tmp_path, extraction_env, ckan_config, monkeypatch):
    """An ini for the worker processes: test.ini plus this test's storage and timeouts."""
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.worker_timeout", "3")
    ini = tmp_path / "worker.ini"
    ini.write_text(
        "[app:main]\n"
        f"use = config:{ROOT / 'test.ini'}\n"
        f"ckan.storage_path = {ckan_config['ckan.storage_path']}\n"
        f"ckanext.dataclic.extract.storage_path = {extraction_env}\n"
        "ckanext.dataclic.extract.allowed_hosts = 127.0.0.1\n"
        "ckanext.dataclic.extract.worker_timeout = 3\n"
        + LOGGING_SECTIONS
    )
    return ini


@pytest.fixture()
def start_worker(worker_ini, tmp_path):
    processes: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen([str(CKAN), "-c", str(worker_ini), "jobs", "worker"],
                                   cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ), start_new_session=True)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def server():
    running = SlowServer(communes_csv(gironde_and_landes()))
    yield running
    running.close()


def test_two_workers_share_jobs_each_runs_once(app, server, start_worker):
    from ckan.lib import jobs
    from rq.job import Job

    dataset = factories.Dataset(owner_org=factories.Organization()["id"])
    resources = [factories.Resource(package_id=dataset["id"], url=f"{server.base}/slow{i}.csv")
                 for i in range(6)]
    pids = {start_worker("one").pid, start_worker("two").pid}
    from rq import Worker

    connection = jobs.get_queue().connection
    wait_for(lambda: pids <= {w.pid for w in Worker.all(connection=connection)}, 90,
             "both workers to register")

    def profiles_done():
        return all((store.get_profile(r["id"]) or {}).get("status") == "detected"
                   for r in resources)

    wait_for(profiles_done, 90, "profile detection by the workers")
    # Each detection job ran once: each URL was fetched once.
    assert all(server.hits[f"/slow{i}.csv"] == 1 for i in range(6)), server.hits
    user = factories.UserWithToken()  # anonymous visitors may only queue two at a time
    records = [call(app, "dataclic_extract", user=user, resource_id=r["id"],
                    perimeter=perimeter,
                    format="csv")["result"]
               for r in resources for perimeter in ("epci:243300316", "departement:40")]
    assert {r["status"] for r in records} == {"queued"}

    def all_done():
        shown = [store.get_extraction(r["id"]) for r in records]
        return all(s["status"] == "done" for s in shown) and shown

    shown = wait_for(all_done, 90, "the extractions")
    workers = {Job.fetch(s["job_id"], connection=connection).worker_name for s in shown}
    assert len(workers) == 2, workers
    kept = {s["perimeter"]: s for s in shown}
    assert '"rows_kept": 28' in kept["epci:243300316"]["report"]


def test_identical_concurrent_requests_share_one_record(app, server, start_worker):
    dataset = factories.Dataset(owner_org=factories.Organization()["id"])
    resource = factories.Resource(package_id=dataset["id"], url=f"{server.base}/same.csv")
    start_worker("one")
    wait_for(lambda: (store.get_profile(resource["id"]) or {}).get("status") == "detected",
             60, "profile detection")
    results: list[dict] = []

    def ask():
        client = app.test_client()
        response = client.post("/api/3/action/dataclic_extract", json={
            "resource_id": resource["id"], "perimeter": "departement:33", "format": "csv"})
        results.append(response.json["result"])

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r["id"] for r in results}) == 1, results
    record = wait_for(lambda: store.get_extraction(results[0]["id"])["status"] == "done"
                      and store.get_extraction(results[0]["id"]), 60, "the extraction")
    assert record["status"] == "done"


def _hanging_extraction(app, server, path):
    """An extraction of a remote CSV whose server stalls (``path``), with its profile given
    by hand (the detection would stall too)."""
    from ckan.lib import jobs

    from ckanext.dataclic.extraction import service

    dataset = factories.Dataset(owner_org=factories.Organization()["id"])
    resource = factories.Resource(package_id=dataset["id"], url=f"{server.base}{path}")
    jobs.get_queue().empty()
    store.save_profile(resource["id"], status="detected", content_version=service
                       .content_version(resource), message=None, profile={
                           "format": "csv", "encoding": "utf-8", "delimiter": ";",
                           "columns": ["code_insee", "nom", "population"],
                           "code_column": "code_insee"})
    record = call(app, "dataclic_extract", resource_id=resource["id"],
                  perimeter="epci:243300316", format="csv")["result"]
    assert record["status"] == "queued"
    return resource, record


def _kill(worker: subprocess.Popen) -> float:
    """The machine dies: the worker and its work horse (RQ gives it its own session)."""
    for pid in [worker.pid, *children(worker.pid)]:
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    worker.wait(10)
    return killed


def _partials(storage: Path) -> list[Path]:
    return [p for p in storage.rglob("*") if p.is_file() and (
        ".part" in p.name or p.name.endswith(".tmp"))]


def test_killed_worker_is_noticed_in_seconds_and_retried_on_another(
        app, server, start_worker, extraction_env):
    _resource, record = _hanging_extraction(app, server, "/once.csv")
    victim = start_worker("victim")
    wait_for(lambda: server.hits["/once.csv"] >= 1, 90, "the worker to start fetching")
    assert store.get_extraction(record["id"])["status"] == "running"
    wait_for(lambda: _partials(extraction_env), 30, "the partial download")
    killed = _kill(victim)

    def noticed():  # what the widget does: it polls the record
        shown = call(app, "dataclic_extract_show", id=record["id"])["result"]
        return shown["status"] != "running" and shown

    shown = wait_for(noticed, 60, "the dead worker to be noticed")
    noticed_after = time.monotonic() - killed
    print(f"\nA SIGKILLed worker was noticed {noticed_after:.1f} s after its death "
          "(worker_timeout 3 s)")
    assert shown["status"] == "queued", shown  # queued again, not failed
    assert noticed_after < 60  # seconds, not the former 300 s staleness
    # The partial download of the dead attempt is gone.
    assert not _partials(extraction_env), _partials(extraction_env)
    start_worker("rescuer")
    done = wait_for(lambda: (call(app, "dataclic_extract_show", id=record["id"])["result"]
                             if store.get_extraction(record["id"])["status"]
                             not in ("queued", "running") else None), 90, "the retry")
    assert done["status"] == "done", done
    assert done["report"]["rows_kept"] == 28
    assert store.get_extraction(record["id"])["attempts"] == 2
    assert server.hits["/once.csv"] == 2
    assert not _partials(extraction_env)


def test_a_second_death_fails_the_record_with_its_reason(app, server, start_worker,
                                                         extraction_env):
    resource, record = _hanging_extraction(app, server, "/hang.csv")
    first = start_worker("first")
    wait_for(lambda: server.hits["/hang.csv"] >= 1, 90, "the first worker to fetch")
    _kill(first)
    second = start_worker("second")
    wait_for(lambda: call(app, "dataclic_extract_show", id=record["id"]) and
             server.hits["/hang.csv"] >= 2, 90, "the retry on the second worker")
    assert store.get_extraction(record["id"])["attempts"] == 2
    _kill(second)

    def failed():
        shown = call(app, "dataclic_extract_show", id=record["id"])["result"]
        return shown["status"] == "failed" and shown

    shown = wait_for(failed, 60, "the second death to fail the record")
    assert "stopped answering twice" in shown["error"]
    assert not _partials(extraction_env), _partials(extraction_env)
    french = app.post("/fr/api/3/action/dataclic_extract_show", json={"id": record["id"]})
    assert "s'est arrêté deux fois" in french.json["result"]["error"]
    # Asked again, it is a new extraction.
    retry = call(app, "dataclic_extract", resource_id=resource["id"],
                 perimeter="epci:243300316", format="csv")["result"]
    assert retry["id"] != record["id"] and retry["status"] == "queued"
