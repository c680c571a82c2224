"""scripts/services.sh starts throwaway PostgreSQL and Redis servers where none is shared."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "services.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run(action: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), action], env=env, check=False, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                    reason="PostgreSQL server binaries (Debian package postgresql) are not installed")
@pytest.mark.skipif(shutil.which("redis-server") is None,
                    reason="redis-server (Debian package redis-server) is not installed")
def test_starts_and_stops_its_own_servers():
    # Under the project (not pytest's private tmp): as root the cluster runs as user postgres,
    # which must be able to reach its folder.
    (ROOT / ".run").mkdir(exist_ok=True)
    services_dir = Path(tempfile.mkdtemp(prefix="services-test-", dir=ROOT / ".run"))
    pg_port, redis_port = free_port(), free_port()
    env = {**os.environ, "DATACLIC_OWN_SERVICES": "1", "DATACLIC_SERVICES_DIR": str(services_dir),
           "DATACLIC_OWN_PG_PORT": str(pg_port), "DATACLIC_OWN_REDIS_PORT": str(redis_port)}
    started = run("start", env)
    try:
        assert started.returncode == 0, started.stderr
        assert listening(pg_port) and listening(redis_port)
        urls = (services_dir / "env").read_text()
        assert f"DATACLIC_PG_URL=postgresql://postgres@127.0.0.1:{pg_port}" in urls
        assert f"DATACLIC_REDIS_URL=redis://127.0.0.1:{redis_port}" in urls
        answer = subprocess.run(["psql", f"postgresql://postgres@127.0.0.1:{pg_port}/postgres",
                                 "-Atc", "select 41 + 1"], check=False, capture_output=True, text=True)
        assert answer.stdout.strip() == "42"
        # A second start is a no-op that reuses the running servers.
        again = run("start", env)
        assert again.returncode == 0 and "using our PostgreSQL" in again.stderr
    finally:
        stopped = run("stop", env)
    assert stopped.returncode == 0, stopped.stderr
    assert not listening(pg_port) and not listening(redis_port)
    shutil.rmtree(services_dir)
