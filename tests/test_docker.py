"""The production compose file is valid and wires every service through the environment."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker" / "compose.yml"


def compose_command() -> list[str]:
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed: cannot check docker/compose.yml")
    plugin = subprocess.run(["docker", "compose", "version"], check=False, capture_output=True)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither `docker compose` nor `docker-compose` is installed")


def compose_config(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "CKAN_"))}
    env.update(extra_env)
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE_FILE), "config"],
        check=False, capture_output=True, text=True, env=env, timeout=60,
    )


def test_compose_file_is_valid_and_complete():
    result = compose_config({"POSTGRES_PASSWORD": "pg-secret", "CKAN_SECRET_KEY": "app-secret"})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    for name in ("ckan", "worker", "harvest-gather", "harvest-fetch", "db", "solr", "redis"):
        assert name in services, f"service {name} missing"
    assert services["solr"]["image"].startswith("ckan/ckan-solr:")
    web_env = services["ckan"]["environment"]
    assert web_env["CKAN_SQLALCHEMY_URL"] == "postgresql://ckan:pg-secret@db:5432/ckan"
    assert web_env["CKAN_SOLR_URL"] == "http://solr:8983/solr/ckan"
    assert "dataclic" in web_env["CKAN__PLUGINS"].split()
    # Background roles run the same image with the same settings.
    assert services["worker"]["environment"] == web_env
    assert services["worker"]["command"] == ["worker"]
    assert services["harvest-fetch"]["command"] == ["fetch"]


def test_compose_refuses_to_start_without_secrets():
    result = compose_config({})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_image_installs_the_grid_libraries():
    """The image installs the extension with its ``grid`` extra, so that climate grids work
    in the widget and the territorial harvest of a container portal."""
    import re

    root = COMPOSE_FILE.parents[1]
    dockerfile = (root / "docker" / "Dockerfile").read_text(encoding="utf-8")
    installs = re.findall(r"pip install[^\n]*ckanext-dataclic[^\n]*", dockerfile)
    assert installs and all("[grid]" in line for line in installs), installs
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    extra = re.search(r"^grid = \[(.*?)^\]", pyproject, re.DOTALL | re.MULTILINE).group(1)
    names = set(re.findall(r'^\s*"([A-Za-z0-9_.-]+)', extra, re.MULTILINE))
    assert {"xarray", "h5netcdf", "h5py", "rasterio", "scipy", "cftime"} <= names
