"""A real portal on 127.0.0.1 and a headless Debian Chromium driven by Selenium."""
from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely.geometry
from ckan.tests import factories
from ckan.tests.helpers import call_action

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def portal(ckan_config, make_app) -> Iterator[str]:
    """The CKAN app served over HTTP by a threaded server; yields its base URL."""
    from werkzeug.serving import make_server

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # The page tells the JavaScript where the API is from ckan.site_url.
    ckan_config["ckan.site_url"] = url
    test_app = make_app()
    server = make_server("127.0.0.1", port, test_app.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="portal", daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture()
def browser():
    """Headless Chromium from Debian (never a downloaded browser)."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')"
    )
    if not CHROMIUM.exists() or not (CHROMEDRIVER.exists() or shutil.which("chromedriver")):
        pytest.skip("Chromium is not installed (Debian packages chromium and chromium-driver; "
                    "scripts/test.sh installs them when run as root)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1600", "--lang=fr-FR",
                     "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    service = Service(executable_path=str(CHROMEDRIVER if CHROMEDRIVER.exists()
                                          else shutil.which("chromedriver")))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def gironde_communes_geojson() -> bytes:
    """Every commune of Gironde with its contour, keyed by INSEE code (real COG data)."""
    from ckanext.dataclic.territories import Referential

    referential = Referential.default()
    features = []
    for code in referential.resolve("departement:33").communes:
        commune = referential.resolve(f"commune:{code}")
        features.append({
            "type": "Feature",
            "properties": {"code_commune": code, "nom": commune.name},
            "geometry": shapely.geometry.mapping(commune.geometry),
        })
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def detected_profile(resource_id: str) -> dict:
    """Run the queued profile-detection jobs in this process until the profile is known."""
    from ckan.lib import jobs

    for _attempt in range(5):
        shown = call_action("dataclic_profile_show", resource_id=resource_id)
        if shown["status"] == "detected":
            return shown
        assert shown["status"] in ("pending", None), shown
        queues = [q.name.split(":")[-1] for q in jobs.get_all_queues()] or ["default"]
        jobs.Worker(queues).work(burst=True)
    raise AssertionError(f"the profile was not detected: {shown}")


@pytest.fixture()
def demo_resource(with_plugins, create_with_upload, migrate_db_for, with_test_worker):
    migrate_db_for("dataclic")
    editor = factories.User(password="Extraire-33-Gironde")
    organization = factories.Organization(
        name="demo-gironde", title="Démo Gironde",
        users=[{"name": editor["name"], "capacity": "editor"}],
    )
    dataset = factories.Dataset(
        name="communes-gironde", title="Communes de Gironde", owner_org=organization["id"],
        license_id="odc-odbl",
    )
    resource = create_with_upload(
        gironde_communes_geojson(), "communes-gironde.geojson",
        package_id=dataset["id"], name="Communes de Gironde", format="GeoJSON",
    )
    profile = detected_profile(resource["id"])
    assert "geojson" in profile["formats"]
    return {"dataset": dataset, "resource": resource, "editor": editor,
            "organization": organization}
