"""Fixtures of the CKAN-side extraction tests: real PostgreSQL, Redis, RQ and files."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from ckan.tests import factories

from ckanext.dataclic.model import active_referential

EXTRACTION_CONFIG = {
    "ckanext.dataclic.extract.allowed_hosts": "127.0.0.1",
    "ckanext.dataclic.extract.read_timeout": "5",
    "ckanext.dataclic.extract.connect_timeout": "2",
}


@pytest.fixture()
def extraction_storage(tmp_path, ckan_config, monkeypatch):
    folder = tmp_path / "dataclic"
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.storage_path", str(folder))
    monkeypatch.setitem(ckan_config, "ckan.storage_path", str(tmp_path / "storage"))
    for key, value in EXTRACTION_CONFIG.items():
        monkeypatch.setitem(ckan_config, key, value)
    return folder


@pytest.fixture()
def extraction_env(clean_db, clean_queues, migrate_db_for, with_plugins, extraction_storage):
    """Fresh tables (CKAN's and ours), empty queues, plugins loaded, a private storage."""
    migrate_db_for("dataclic")
    _empty_tables()
    forget_rate_limits()
    active_referential.clear()
    yield extraction_storage
    active_referential.clear()


def _empty_tables() -> None:
    """CKAN's clean_db leaves the extension's tables alone: empty them."""
    from ckan import model

    model.Session.remove()
    with model.meta.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM dataclic_extraction; DELETE FROM dataclic_publication;"
                             " DELETE FROM dataclic_resource_profile")


def forget_rate_limits() -> None:
    """The anonymous rate limit counts live in Redis: start each test with none."""
    from ckan.lib.redis import connect_to_redis

    connection = connect_to_redis()
    for key in connection.scan_iter("dataclic:*:extract-rate:*"):
        connection.delete(key)


def communes_csv(codes: list[str], extra_rows: list[str] = ()) -> bytes:
    """A CSV of communes with population keyed by INSEE code, from the referential."""
    ref = active_referential.get()
    lines = ["code_insee;nom;population"]
    for code in codes:
        commune = ref.communes[code]
        lines.append(f"{code};{commune.name};{commune.population}")
    lines += list(extra_rows)
    return ("\n".join(lines) + "\n").encode()


def gironde_and_landes() -> list[str]:
    ref = active_referential.get()
    return [c for c in sorted(ref.communes) if c[:2] in ("33", "40")]


def upload(data: bytes, filename: str):
    from werkzeug.datastructures import FileStorage

    return FileStorage(stream=io.BytesIO(data), filename=filename)


def run_jobs() -> None:
    """Run every queued job in this process (RQ burst mode through CKAN's worker)."""
    from ckan.lib import jobs

    jobs.Worker(["default"]).work(burst=True)


def shared_data() -> Path:
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture()
def editor():
    """A user with an API token, editor of ``org``."""
    return factories.UserWithToken()


@pytest.fixture()
def org(editor):
    return factories.Organization(users=[{"name": editor["name"], "capacity": "editor"}])
