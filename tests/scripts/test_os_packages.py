"""scripts/os_packages.sh waits for another apt/dpkg run instead of giving up (and leaving the
browser and docker tests to skip)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "os_packages.sh"
FRONTEND_LOCK = Path("/var/lib/dpkg/lock-frontend")
HOLD_S = 4

# Holds dpkg's frontend lock the way apt and dpkg take it (fcntl write lock), then releases it.
HOLDER = """
import fcntl, sys, time
with open(sys.argv[1], "w") as lock:
    fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""

needs_root_apt = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("apt-get") is None or shutil.which("dpkg-query") is None
    or not FRONTEND_LOCK.exists(),
    reason="needs root and Debian's apt (the script installs Debian packages)")


def installed_package() -> str:
    """A package that is installed already: installing it again changes nothing but still
    needs dpkg's lock."""
    return "bash"


def hold_lock(seconds: float) -> subprocess.Popen:
    deadline = time.monotonic() + 120
    while True:
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(FRONTEND_LOCK), str(seconds)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if holder.stdout.readline().strip() == "held":
            return holder
        holder.wait()
        # Someone else's apt run holds it right now: try again once it is done.
        assert time.monotonic() < deadline, "dpkg's lock stayed busy for two minutes"
        time.sleep(1)


@needs_root_apt
def test_waits_for_a_held_dpkg_lock_then_installs():
    holder = hold_lock(HOLD_S)
    try:
        started = time.monotonic()
        done = subprocess.run(["bash", str(SCRIPT), installed_package()], check=False, capture_output=True,
                              text=True, timeout=600,
                              env={**os.environ, "DATACLIC_APT_LOCK_WAIT": "300"})
        elapsed = time.monotonic() - started
    finally:
        holder.wait(timeout=60)
    assert done.returncode == 0, done.stderr
    assert "waiting" in done.stderr
    # It waited for the lock to be released rather than failing while it was held.
    assert elapsed >= HOLD_S - 1.5, elapsed


@needs_root_apt
def test_gives_up_after_the_bounded_wait_with_a_reason():
    holder = hold_lock(8)
    try:
        started = time.monotonic()
        done = subprocess.run(["bash", str(SCRIPT), installed_package()], check=False, capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "DATACLIC_APT_LOCK_WAIT": "3"})
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert done.returncode == 1
    assert "still locked" in done.stderr
    assert elapsed < 25, "the wait is not bounded"


def test_misuse_says_how_to_call_it():
    done = subprocess.run(["bash", str(SCRIPT)], check=False, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "usage" in done.stderr
