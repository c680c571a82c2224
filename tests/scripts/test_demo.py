"""The README's portal command brings up a working portal and its companion stops it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "demo.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def check_territorial_home(base: str) -> None:
    """The home page is Bordeaux Métropole's, with its published data, not CKAN's placeholder."""
    with urllib.request.urlopen(base + "/fr/", timeout=60) as response:
        home = response.read().decode()
    assert "<title>" in home and "Données vertes — Bordeaux Métropole" in home
    assert "Bienvenue sur CKAN" not in home and "placeholder-420x220" not in home
    assert "Données pour Bordeaux Métropole" in home
    assert 'data-dataset="communes-de-france-bordeaux-metropole"' in home
    assert 'class="dataclic-map-perimeter"' in home


def check_big_upload(base: str, run_dir: Path, env: dict[str, str]) -> None:
    """A 25 MB file (over CKAN's default 10 MB cap and the 20 MB in-request extraction
    limit) is accepted, so the background extraction path can be reached from a browser."""
    import json
    import uuid

    token = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ckan"), "-c", str(run_dir / "ckan.ini"), "user", "token",
         "add", "admin", "demo-test"], env=env, check=True, capture_output=True,
        text=True, timeout=300).stdout.strip().splitlines()[-1].strip()
    boundary = uuid.uuid4().hex
    row = b"33063;Bordeaux;260958;33\n"
    content = b"code_insee;nom;population;code_departement\n" + row * (25 * 2**20 // len(row))
    fields = {"package_id": "communes-de-france", "name": "big.csv", "format": "CSV"}
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        .encode() for k, v in fields.items())
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; "
             f"filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        base + "/api/3/action/resource_create", data=body, method="POST",
        headers={"Authorization": token,
                 "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=300) as response:
        created = json.loads(response.read())["result"]
    assert created["size"] == len(content) > 20 * 2**20


def test_demo_portal_serves_pages_and_stops():
    (ROOT / ".run").mkdir(exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="demo-test-", dir=ROOT / ".run"))
    port = free_port()
    env = {**os.environ, "DATACLIC_DEMO_PORT": str(port), "DATACLIC_DEMO_DIR": str(run_dir),
           # One demo database per test database, so that parallel runs do not share it.
           "DATACLIC_DEMO_DB": os.environ.get("DATACLIC_TEST_DB", "ckan_test") + "_demo",
           "DATACLIC_DEMO_KEEP_SERVICES": "1"}
    # The demo uses its own database and Redis settings, not the test ones.
    for name in ("CKAN_SQLALCHEMY_URL", "CKAN_REDIS_URL", "CKAN_INI"):
        env.pop(name, None)
    # The trace of an earlier run survives a restart of the demo.
    for name in ("web", "worker"):
        (run_dir / f"{name}.log").write_text(f"trace of the previous {name} run\n")
    try:
        started = subprocess.run(["bash", str(SCRIPT)], env=env, check=False, capture_output=True, text=True,
                                 timeout=600)
        assert started.returncode == 0, started.stderr[-3000:]
        assert f"portal ready at http://127.0.0.1:{port}" in started.stderr
        assert "log in as: admin / " in started.stderr
        base = f"http://127.0.0.1:{port}"
        for path in ("/", "/dataset", "/dataset/communes-de-france", "/organization/demo",
                     "/api/3/action/status_show", "/dataset?q=communes", "/harvest"):
            assert status_of(base + path) == 200, path
        check_territorial_home(base)
        check_big_upload(base, run_dir, env)
        pids = [int((run_dir / f"{name}.pid").read_text())
                for name in ("web", "worker", "gather", "fetch")]
        for pid in pids:
            assert Path(f"/proc/{pid}").exists(), f"background process {pid} is not running"
        for name in ("web", "worker"):
            log = (run_dir / f"{name}.log").read_text()
            assert log.startswith(f"trace of the previous {name} run\n"), log[:300]
            assert f"scripts/demo.sh starts {name}" in log
    finally:
        stopped = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, check=False, capture_output=True,
                                 text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} still runs after stop"
    shutil.rmtree(run_dir, ignore_errors=True)
