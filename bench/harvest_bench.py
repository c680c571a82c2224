"""Harvest N datasets (default 1,000) from a local udata-shaped server with the real
ckanext-harvest consumers (Redis queues, separate gather and fetch processes).

Prints datasets per second for a first harvest and an unchanged re-harvest, the CPU time the
consumers spent per dataset, and the RSS of each consumer sampled as the harvest advances (to
show it does not grow with the datasets) plus its peak (VmHWM).

    CKAN_SQLALCHEMY_URL=postgresql://postgres@127.0.0.1:5432/ckan_test_harvest \\
    CKAN_REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/harvest_bench.py [-n 1000]

It CLEANS the database it is given: point it at a throwaway one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PLUGINS = "dataclic_pgsearch dataclic harvest dataclic_udata"


def dataset(n: int) -> dict[str, Any]:
    return {
        "id": f"bench{n:019d}", "slug": f"bench-dataset-{n}",
        "title": f"Bench dataset {n}", "description": "A dataset of the harvest benchmark.",
        "license": "lov2", "tags": ["bench", "environnement"], "frequency": "annual",
        "temporal_coverage": {"start": "2020-01-01", "end": "2025-12-31"},
        "spatial": {"zones": ["country:fr"], "granularity": "fr:commune"},
        "organization": {"name": "Bench producer"},
        "last_modified": "2026-01-01T00:00:00+00:00",
        "page": f"https://www.data.gouv.fr/fr/datasets/bench-dataset-{n}/",
        "resources": [
            {"id": f"00000000-0000-0000-0000-{n:012d}", "title": "data.csv",
             "url": f"https://files.example.org/{n}/data.csv", "format": "csv",
             "filesize": 1000 + n, "checksum": {"type": "sha1", "value": "0" * 40},
             "last_modified": "2026-01-01T00:00:00+00:00"},
            {"id": f"00000000-0000-0000-0001-{n:012d}", "title": "data.geojson",
             "url": f"https://files.example.org/{n}/data.geojson", "format": "geojson"},
        ],
    }


def start_server(count: int, page_size: int = 100) -> ThreadingHTTPServer:
    data = [dataset(n) for n in range(count)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            page = int(query.get("page", ["1"])[0])
            size = int(query.get("page_size", [str(page_size)])[0])
            chunk = data[(page - 1) * size: page * size]
            more = page * size < len(data)
            host = f"http://127.0.0.1:{self.server.server_address[1]}"
            body = json.dumps({
                "data": chunk, "page": page, "page_size": size, "total": len(data),
                "next_page": f"{host}/api/1/datasets/?page={page + 1}&page_size={size}"
                if more else None,
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_ini(folder: Path) -> Path:
    text = (ROOT / "test.ini").read_text()
    lines = []
    for line in text.splitlines():
        if line.startswith("ckan.plugins"):
            line = f"ckan.plugins = {PLUGINS}"
        elif line.startswith("args = (sys.stdout,)"):
            line = "args = (sys.stderr,)"  # keep stdout for the JSON answers of ckanapi
        elif line.startswith("ckan.storage_path"):
            line = f"ckan.storage_path = {folder / 'storage'}"
        lines.append(line)
        if line.strip() == "[app:main]":
            lines.append("ckanext.dataclic.harvest.allowed_hosts = 127.0.0.1")
            lines.append("ckan.harvest.mq.type = redis")
    ini = folder / "bench.ini"
    ini.write_text("\n".join(lines) + "\n")
    return ini


def ckan(ini: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run([str(VENV_BIN / "ckan"), "-c", str(ini), *args],
                            capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"ckan {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def ckanapi(ini: Path, action: str, **params: Any) -> Any:
    args = [f"{k}:{json.dumps(v)}" if not isinstance(v, str) else f"{k}={v}"
            for k, v in params.items()]
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(VENV_BIN / "ckanapi"), "action", action, "-c", str(ini), *args],
                            capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise SystemExit(f"ckanapi {action} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)


def with_socket_timeout(url: str, seconds: int = 86400) -> str:
    if "socket_timeout=" in url:
        return url
    return url + ("&" if "?" in url else "?") + f"socket_timeout={seconds}"


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process and its children, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def consumer_seconds(db_url: str, job_id: str) -> float:
    """From the gather consumer taking the job to the last object closed (imported, or found
    unchanged at the fetch or the gather stage): the consumers' own time, without the
    start-up of the `ckan harvester run` command that queued the job."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        seconds = conn.execute(sa.text(
            "select extract(epoch from (greatest(max(o.import_finished), max(o.fetch_finished), "
            "j.gather_finished) - j.gather_started)) "
            "from harvest_job j join harvest_object o on o.harvest_job_id = j.id "
            "where j.id = :j group by j.gather_started, j.gather_finished"),
            {"j": job_id}).scalar()
    engine.dispose()
    return float(seconds or 0.0)


def object_counts(db_url: str, job_id: str) -> tuple[int, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        done = conn.execute(sa.text(
            "select count(*) from harvest_object where harvest_job_id = :j "
            "and state in ('COMPLETE', 'ERROR')"), {"j": job_id}).scalar()
        total = conn.execute(sa.text(
            "select count(*) from harvest_object where harvest_job_id = :j"), {"j": job_id}).scalar()
    engine.dispose()
    return int(done or 0), int(total or 0)


def run_job(ini: Path, db_url: str, source_id: str, expected: int,
            consumers: dict[str, subprocess.Popen], timeout: float) -> dict[str, Any]:
    job = ckanapi(ini, "harvest_job_create", source_id=source_id)
    cpu_before = {name: cpu_seconds(proc.pid) for name, proc in consumers.items()}
    started = time.monotonic()
    ckan(ini, "harvester", "run")  # sends the New job to the gather queue
    samples: dict[str, list[int]] = {name: [] for name in consumers}
    marks = [expected * q // 4 for q in (1, 2, 3, 4)]
    done = 0
    while time.monotonic() - started < timeout:
        done, _total = object_counts(db_url, job["id"])
        while marks and done >= marks[0]:
            marks.pop(0)
            for name, proc in consumers.items():
                samples[name].append(rss_kib(proc.pid)[0])
        if done >= expected:
            break
        time.sleep(0.2)
    wall = time.monotonic() - started
    cpu = {name: cpu_seconds(proc.pid) - cpu_before[name] for name, proc in consumers.items()}
    elapsed = consumer_seconds(db_url, job["id"]) or wall
    ckan(ini, "harvester", "run")  # marks the job Finished
    status = ckanapi(ini, "harvest_job_show", id=job["id"])
    return {"done": done, "seconds": elapsed, "wall": wall,
            "rate": done / elapsed if elapsed else 0.0,
            "rss_samples_kib": samples, "stats": status.get("stats"), "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--datasets", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--fetchers", type=int, default=1, help="fetch consumers to run")
    parser.add_argument("--keep-logs", help="folder where to copy the consumers' logs")
    args = parser.parse_args()
    db_url = os.environ.get("CKAN_SQLALCHEMY_URL")
    if not db_url or not os.environ.get("CKAN_REDIS_URL"):
        raise SystemExit("Set CKAN_SQLALCHEMY_URL (a throwaway database) and CKAN_REDIS_URL")

    server = start_server(args.datasets)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="harvest-bench-") as tmp:
        ini = write_ini(Path(tmp))
        ckan(ini, "db", "clean", "--yes")
        ckan(ini, "db", "init")
        ckan(ini, "db", "upgrade", "-p", "harvest")
        ckan(ini, "search-index", "clear", check=False)
        ckan(ini, "harvester", "purge-queues")
        org = ckanapi(ini, "organization_create", name="bench-org", title="Bench")
        source = ckanapi(ini, "harvest_source_create", name="bench-source", title="Bench",
                         url=url, source_type="dataclic_udata", owner_org=org["id"],
                         config=json.dumps({"q": "bench", "page_size": 100, "max_pages": 100}))
        names = ["gather-consumer"] + [f"fetch-consumer-{i + 1}" for i in range(args.fetchers)]
        logs = {name: open(Path(tmp) / f"{name}.log", "wb") for name in names}  # noqa: SIM115
        # CKAN 2.12 pins redis-py 8, whose sockets time out after 5 s by default: the
        # consumers' blocking BLPOP would crash once idle. A long timeout in the URL fixes it.
        env = dict(os.environ)
        env["CKAN_REDIS_URL"] = with_socket_timeout(os.environ["CKAN_REDIS_URL"])
        consumers: dict[str, subprocess.Popen] = {}
        for name in names:
            command = "fetch-consumer" if name.startswith("fetch") else name
            consumers[name] = subprocess.Popen(
                [str(VENV_BIN / "ckan"), "-c", str(ini), "harvester", command],
                stdout=logs[name], stderr=subprocess.STDOUT, env=env,
            )
            time.sleep(8)  # one at a time: start-up work (search table checks) is not shared
        try:
            first = run_job(ini, db_url, source["id"], args.datasets, consumers, args.timeout)
            second = run_job(ini, db_url, source["id"], args.datasets, consumers, args.timeout)
            peaks = {name: rss_kib(proc.pid)[1] for name, proc in consumers.items()}
        finally:
            for proc in consumers.values():
                proc.terminate()
            for proc in consumers.values():
                proc.wait(timeout=30)
            for log in logs.values():
                log.close()
            if args.keep_logs:
                for name in names:
                    text = (Path(tmp) / f"{name}.log").read_text(errors="replace")
                    (Path(args.keep_logs) / f"{name}.log").write_text(text)
            server.shutdown()

    print(f"datasets: {args.datasets} (udata-shaped, 2 resources each), consumers: "
          f"1 gather + {args.fetchers} fetch, Redis queues")
    for label, run in (("first harvest (all added)", first),
                       ("re-harvest (all not modified)", second)):
        print(f"{label}: {run['done']} objects in {run['seconds']:.1f} s of consumer time "
              f"= {run['rate']:.1f} datasets/s ({run['wall']:.1f} s wall, including the "
              f"start-up of `ckan harvester run`); job stats {run['stats']}")
        fetch_cpu = sum(v for k, v in run["cpu"].items() if k.startswith("fetch"))
        print(f"  CPU of the fetch consumers: {fetch_cpu:.1f} s = "
              f"{1000 * fetch_cpu / max(run['done'], 1):.0f} ms per dataset; gather consumer "
              f"{run['cpu']['gather-consumer']:.2f} s")
        for name, samples in run["rss_samples_kib"].items():
            mib = ", ".join(f"{s / 1024:.0f}" for s in samples)
            print(f"  {name} RSS at 25/50/75/100 % (MiB): {mib}")
    for name, peak in peaks.items():
        print(f"peak RSS {name}: {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
