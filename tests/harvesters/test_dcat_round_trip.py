"""Round trip: a territory dataset of one portal, harvested from its DCAT catalogue by
ckanext-dcat's own DCAT harvester into a second portal, keeps its territory, licence and
source. Portal A is a real `ckan run` on 127.0.0.1 with its own database; portal B is this
test process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from ckanext.dataclic.logic.territory_metadata import standard_territory_fields
from ckanext.dataclic.territories import Referential

from .conftest import make_source, run_job, show, statuses

ROOT = Path(__file__).resolve().parents[2]
CKAN = Path(sys.executable).with_name("ckan")

pytestmark = [
    pytest.mark.ckan_config(
        "ckan.plugins", "dataclic_pgsearch dataclic harvest dcat dcat_rdf_harvester"),
    pytest.mark.ckan_config("ckanext.dcat.rdf.profiles", "euro_dcat_ap_3 dataclic_territory"),
    pytest.mark.usefixtures("harvest_db"),
]

LOGGING = """
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
format = %(levelname)s %(message)s
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _ckan(ini: Path, *args: str) -> str:
    done = subprocess.run([str(CKAN), "-c", str(ini), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def portal_a(tmp_path, ckan_config):
    """A second CKAN (plugins dataclic_pgsearch, dataclic, dcat) with its own database."""
    base_url = ckan_config["sqlalchemy.url"].rsplit("/", 1)[0]
    database = f"{ckan_config['sqlalchemy.url'].rsplit('/', 1)[1]}_portal_a"
    admin = sa.create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    port = _free_port()
    ini = tmp_path / "portal_a.ini"
    ini.write_text(
        "[app:main]\n"
        f"use = config:{ROOT / 'test.ini'}\n"
        f"sqlalchemy.url = {base_url}/{database}\n"
        f"ckan.site_url = http://127.0.0.1:{port}\n"
        f"ckan.storage_path = {tmp_path / 'storage'}\n"
        "ckan.plugins = dataclic_pgsearch dataclic dcat\n"
        "ckanext.dcat.rdf.profiles = euro_dcat_ap_3 dataclic_territory\n" + LOGGING)
    _ckan(ini, "db", "init")
    _ckan(ini, "user", "add", "alice", "email=alice@127.0.0.1", "password=correct-horse-9")
    _ckan(ini, "sysadmin", "add", "alice")
    token = _ckan(ini, "user", "token", "add", "alice", "roundtrip").strip().splitlines()[-1]
    log = (tmp_path / "portal_a.log").open("wb")
    server = subprocess.Popen([str(CKAN), "-c", str(ini), "run", "-H", "127.0.0.1", "-p",
                               str(port), "-r"], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/api/3/action/status_show", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        _wait(answers, 180, "portal A to answer")
        yield url, token.strip()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
        admin.dispose()
        with sa.create_engine(f"{base_url}/postgres",
                              isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _api(url: str, token: str, action: str, **data):
    request = urllib.request.Request(
        f"{url}/api/3/action/{action}", data=json.dumps(data).encode(),
        headers={"Authorization": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["result"]


def test_territory_dataset_survives_a_dcat_harvest(portal_a, org):
    url, token = portal_a
    owner = _api(url, token, "organization_create", name="metropole")
    source = _api(url, token, "package_create", name="population-communes",
                  title="Population des communes", owner_org=owner["id"],
                  license_id="odc-odbl")
    fields = standard_territory_fields("epci:243300316", referential=Referential.default())
    facts = {"dataclic_perimeter": "epci:243300316",
             "dataclic_perimeter_name": "Bordeaux Métropole",
             "dataclic_source_package": source["name"]}
    _api(url, token, "package_create", name="population-bordeaux-metropole",
         title="Population des communes — Bordeaux Métropole", owner_org=owner["id"],
         license_id="odc-odbl",
         extras=[{"key": k, "value": v} for k, v in {**fields, **facts}.items()],
         resources=[{"url": f"{url}/p.csv", "format": "CSV", "name": "p.csv"}])

    harvest = make_source(f"{url}/catalog.ttl", "dcat_rdf", {"rdf_format": "text/turtle"},
                          org, name="portal-a")
    report = run_job(harvest["id"])

    assert report["status"] == "Finished", report
    assert sorted(statuses(report).values()) == ["added", "added"], report
    harvested = [show(o["package_id"]) for o in report["objects"].values()]
    [territory] = [d for d in harvested if "Bordeaux" in d["title"]]
    extras = {e["key"]: e["value"] for e in territory["extras"]}
    assert extras["dataclic_geozones"] == "fr:epci:243300316"
    assert extras["dataclic_source_url"] == f"{url}/dataset/population-communes"
    assert territory["license_id"] == "odc-odbl"
    assert json.loads(extras["spatial"])["type"] in ("Polygon", "MultiPolygon")
    [resource] = territory["resources"]
    assert resource["format"] == "CSV" and resource["url"] == f"{url}/p.csv"
