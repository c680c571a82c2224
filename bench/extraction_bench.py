"""Benchmark of extraction in CKAN: cached answers, downloads, job overhead.

    CKAN_SQLALCHEMY_URL=postgresql://postgres@127.0.0.1:5432/ckan_bench_extraction \\
    CKAN_REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/extraction_bench.py [--ini test.ini] [--mb 100] [--repeat 30]

The database must exist (it is initialised here, then filled with a few datasets). The portal
is served by a threaded WSGI server on 127.0.0.1 in this process; a real ``ckan jobs worker``
process runs the background jobs. Prints:

- the median time of a cached ``dataclic_extract`` call through the HTTP API;
- the download throughput of one large result on loopback, and 50 concurrent downloads;
- the job overhead (record created and job enqueued → job started) with a warm worker.
"""
from __future__ import annotations

import argparse
import http.server
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CKAN = Path(sys.executable).with_name("ckan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_ini(folder: Path, ini: Path, site_url: str) -> Path:
    path = folder / "bench.ini"
    path.write_text(
        "[app:main]\n"
        f"use = config:{ini.resolve()}\n"
        f"ckan.site_url = {site_url}\n"
        f"ckan.storage_path = {folder / 'storage'}\n"
        f"ckanext.dataclic.extract.storage_path = {folder / 'dataclic'}\n"
        "ckanext.dataclic.extract.allowed_hosts = 127.0.0.1\n"
        "ckan.max_resource_size = 2000\n"
        # CKAN 2.11's CLI reads logging sections from the ini it is given.
        "\n[loggers]\nkeys = root\n\n[handlers]\nkeys = console\n\n[formatters]\n"
        "keys = generic\n\n[logger_root]\nlevel = WARN\nhandlers = console\n\n"
        "[handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\nlevel = NOTSET\n"
        "formatter = generic\n\n[formatter_generic]\nformat = %(levelname)s %(message)s\n"
    )
    return path


def big_csv(path: Path, megabytes: int) -> None:
    """Communes of Gironde and Landes with population, repeated up to ``megabytes``."""
    from ckanext.dataclic.territories import Referential

    ref = Referential.default()
    lines = [f"{c};{ref.communes[c].name};{ref.communes[c].population};{i}\n"
             for i, c in enumerate(sorted(ref.communes)) if c[:2] in ("33", "40")]
    block = "".join(lines).encode()
    with path.open("wb") as out:
        out.write(b"code_insee;nom;population;rang\n")
        while out.tell() < megabytes * 1024 * 1024:
            out.write(block)


def api(base: str, action: str, token: str, **data) -> tuple[dict, float]:
    request = urllib.request.Request(
        f"{base}/api/3/action/{action}", data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", "Authorization": token})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = json.loads(response.read())
    return body["result"], time.perf_counter() - started


def download(url: str, token: str | None = None) -> tuple[int, float]:
    request = urllib.request.Request(url, headers={"Authorization": token} if token else {})
    started = time.perf_counter()
    size = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 20):
            size += len(chunk)
    return size, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ini", type=Path, default=ROOT / "test.ini")
    parser.add_argument("--mb", type=int, default=100, help="size of the large input (MB)")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--worker", choices=("warm", "fork"), default="warm",
                        help="`ckan dataclic worker` (warm, no fork) or `ckan jobs worker`")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="dataclic-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ini = write_ini(folder, args.ini, base)
    for command in (["db", "init"], ["db", "upgrade", "-p", "dataclic"]):
        subprocess.run([str(CKAN), "-c", str(ini), *command], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    log = (folder / "worker.log").open("wb")
    command = ["dataclic", "worker"] if args.worker == "warm" else ["jobs", "worker"]
    worker = subprocess.Popen([str(CKAN), "-c", str(ini), *command], cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        run(args, folder, ini, base, port)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    print(f"(files in {folder}; remove it when done)")


def run(args: argparse.Namespace, folder: Path, ini: Path, base: str, port: int) -> None:
    from ckan.cli import load_config
    from ckan.config.middleware import make_app
    from werkzeug.serving import make_server

    app = make_app(load_config(str(ini)))
    flask_app = app._wsgi_app if hasattr(app, "_wsgi_app") else app
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    with flask_app.test_request_context():
        import ckan.plugins.toolkit as tk
        from ckan.tests import factories
        from werkzeug.datastructures import FileStorage

        from ckanext.dataclic.extraction import service
        from ckanext.dataclic.model import extraction as store

        user = factories.SysadminWithToken()
        token = user["token"]
        org = factories.Organization()
        dataset = factories.Dataset(owner_org=org["id"])
        source = folder / "big.csv"
        big_csv(source, args.mb)
        with source.open("rb") as stream:
            resource = tk.get_action("resource_create")(
                {"user": user["name"], "ignore_auth": True},
                {"package_id": dataset["id"], "name": "big.csv",
                 "upload": FileStorage(stream=stream, filename="big.csv")})
        service.detect(service.show_resource(resource["id"]))
        small = factories.Dataset(owner_org=org["id"])
        sample = folder / "sample.csv"
        sample.write_bytes(source.read_bytes()[:400_000].rsplit(b"\n", 1)[0] + b"\n")

    size_mb = source.stat().st_size / 1e6
    print(f"input: {size_mb:.0f} MB CSV ({source.stat().st_size} bytes)")

    # 1. Cached extraction through the API.
    first, elapsed = api(base, "dataclic_extract", token, resource_id=resource["id"],
                         perimeter="epci:243300316", format="csv")
    if first["status"] != "done":
        first, elapsed = wait_done(base, token, first)
    print(f"first extraction (epci, {first['status']}): {elapsed:.2f} s, "
          f"{first['report']['rows_kept']} rows, {first['size'] / 1e6:.1f} MB")
    times = []
    for _ in range(args.repeat):
        record, elapsed = api(base, "dataclic_extract", token, resource_id=resource["id"],
                              perimeter="epci:243300316", format="csv")
        assert record["cached"] and record["id"] == first["id"]
        times.append(elapsed * 1000)
    print(f"cached dataclic_extract through the API: median {statistics.median(times):.1f} ms "
          f"(min {min(times):.1f}, max {max(times):.1f}, n={len(times)})")

    # 2. Downloads.
    large, elapsed = api(base, "dataclic_extract", token, resource_id=resource["id"],
                         perimeter="departement:33", format="csv")
    if large["status"] != "done":
        large, elapsed = wait_done(base, token, large)
    rates = []
    for _ in range(3):
        size, seconds = download(large["download_url"], token)
        rates.append(size / seconds / 1e6)
    print(f"download of one {large['size'] / 1e6:.0f} MB result on loopback: median "
          f"{statistics.median(rates):.0f} MB/s (runs: {', '.join(f'{r:.0f}' for r in rates)})")
    started = time.perf_counter()
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: download(first["download_url"], token), range(50)))
    wall = time.perf_counter() - started
    sizes = {size for size, _ in results}
    ok = len(results) == 50 and sizes == {first["size"]}
    print(f"50 concurrent downloads of {first['size'] / 1e6:.1f} MB: "
          f"{'all complete' if ok else 'ERRORS'} in {wall:.2f} s "
          f"({50 * first['size'] / wall / 1e6:.0f} MB/s aggregate)")

    # 3. Job overhead with a warm worker.
    body = sample.read_bytes()

    class Source(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Source)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        with flask_app.test_request_context():
            remote = factories.Resource(
                package_id=small["id"],
                url=f"http://127.0.0.1:{files.server_address[1]}/sample.csv")
        # Warm-up: the worker detects the profile of the remote resource.
        deadline = time.time() + 120
        while time.time() < deadline:
            profile, _ = api(base, "dataclic_profile_show", token, resource_id=remote["id"])
            if profile["status"] != "pending":
                break
            time.sleep(0.2)
        overheads = []
        perimeters = ["departement:33", "departement:40", "epci:243300316", "region:75",
                      "commune:33063", "commune:40192", "commune:33281", "commune:33522",
                      "commune:40088", "commune:33318", "commune:33069"]
        for perimeter in perimeters[:args.jobs]:
            record, _ = api(base, "dataclic_extract", token, resource_id=remote["id"],
                            perimeter=perimeter, format="csv")
            record, _ = wait_done(base, token, record)
            with flask_app.test_request_context():
                row = store.get_extraction(record["id"])
            overheads.append((row["started"] - row["created"]).total_seconds() * 1000)
        print(f"job overhead (enqueue → start, warm `{args.worker}` worker): median "
              f"{statistics.median(overheads):.0f} ms (max {max(overheads):.0f} ms, "
              f"n={len(overheads)})")
    finally:
        files.shutdown()
        server.shutdown()


def wait_done(base: str, token: str, record: dict) -> tuple[dict, float]:
    started = time.perf_counter()
    while record["status"] in ("queued", "running"):
        time.sleep(0.05)
        record, _ = api(base, "dataclic_extract_show", token, id=record["id"])
    if record["status"] != "done":
        raise SystemExit(f"extraction failed: {record['error']}")
    return record, time.perf_counter() - started


if __name__ == "__main__":
    main()
