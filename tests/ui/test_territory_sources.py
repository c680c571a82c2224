"""The sysadmins' territory sources page in a real headless Chromium, then the home page.

A sysadmin of Bordeaux Métropole's portal ticks two Hub'Eau sources, creates them (through
the CSRF-protected form), the sources are harvested from a local fixture server through
ckanext-harvest's gather/fetch/import stages, and the home page's "Data for Bordeaux
Métropole" block lists the territory's datasets by theme, with the territory's map.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ckan.tests import factories
from ckan.tests.helpers import call_action
from harvesters.conftest import HARVEST_PLUGINS, run_job
from harvesters.fixture_server import FixtureServer, Reply

from .conftest import detected_profile
from .test_extract_widget import visible, wait

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"   # git-ignored
BORDEAUX_METROPOLE = "epci:243300316"
PAGE = "/fr/ckan-admin/dataclic/territory-sources"
TICKED = ("hubeau-piezometrie-stations", "hubeau-onde-stations")
PASSWORD = "Moissonner-33-Bordeaux"


@pytest.fixture()
def harvest_tables(clean_db, clean_index, migrate_db_for, with_plugins):
    migrate_db_for("harvest")
    migrate_db_for("dataclic")


@pytest.fixture()
def hubeau():
    """Two Hub'Eau endpoints with stations in and out of Bordeaux Métropole."""
    server = FixtureServer().start()
    stations = {
        "/api/v1/niveaux_nappes/stations": [
            {"code_bss": "07794X0001/F", "code_commune_insee": "33063", "nom": "Bordeaux"},
            {"code_bss": "07545X0002/F", "code_commune_insee": "33281", "nom": "Mérignac"},
            {"code_bss": "02206X0003/F", "code_commune_insee": "35238", "nom": "Rennes"},
        ],
        "/api/v1/ecoulement/stations": [
            {"code_station": "O9000001", "code_commune": "33522", "libelle": "Talence"},
            {"code_station": "J7000002", "code_commune": "29019", "libelle": "Brest"},
        ],
    }
    for path, rows in stations.items():
        server.routes[path] = Reply.json({"count": len(rows), "next": None, "data": rows})
    yield server
    server.stop()


def harvest_sources() -> list[dict]:
    from ckan import model
    from ckanext.harvest.model import HarvestSource

    model.Session.remove()
    return [{"id": r.id, "url": r.url, "frequency": r.frequency,
             "name": model.Package.get(r.id).name, "config": json.loads(r.config or "{}")}
            for r in model.Session.query(HarvestSource).filter(HarvestSource.active.is_(True))]


def population_csv() -> bytes:
    """Population of every commune of Gironde, keyed by INSEE code (real COG data)."""
    from ckanext.dataclic.territories import Referential

    referential = Referential.default()
    lines = ["code_insee;nom;population"]
    for code in referential.resolve("departement:33").communes:
        commune = referential.communes[code]
        lines.append(f"{code};{commune.name};{commune.population or ''}")
    return ("\n".join(lines) + "\n").encode()


def publish_territory_extract(sysadmin: dict, org: dict, create_with_upload) -> dict:
    """An extract for Bordeaux Métropole published through dataclic_publish."""
    from ckan import model

    source = factories.Dataset(name="population-gironde", title="Population de Gironde",
                               owner_org=org["id"], license_id="odc-odbl")
    resource = create_with_upload(population_csv(), "population-gironde.csv",
                                  package_id=source["id"], name="Population", format="CSV")
    detected_profile(resource["id"])
    context = {"user": sysadmin["name"], "auth_user_obj": model.User.get(sysadmin["name"]),
               "ignore_auth": False}
    record = call_action("dataclic_extract", dict(context), resource_id=resource["id"],
                         perimeter=BORDEAUX_METROPOLE, format="csv")
    assert record["status"] == "done", record
    return call_action("dataclic_publish", dict(context), id=record["id"],
                       owner_org=org["id"])


def press(browser, element) -> None:
    """Click ``element`` once the page has settled: on a busy machine the stylesheets may
    still be arriving and moving the layout under the pointer, so try again until it lands."""
    from selenium.common.exceptions import ElementClickInterceptedException

    def clicked(driver) -> bool:
        if driver.execute_script("return document.readyState") != "complete":
            return False
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        try:
            element.click()
        except ElementClickInterceptedException:
            return False
        return True

    wait(browser, clicked, "the element could not be clicked")


def forget_size_estimates() -> None:
    """Empty the estimates' cache, so that the page's script has them to ask for."""
    from ckan.lib.redis import connect_to_redis

    redis = connect_to_redis()
    for key in redis.scan_iter("dataclic:estimate:*"):
        redis.delete(key)


def territory_datasets() -> dict[str, str]:
    """Active datasets whose extra dataclic_perimeter is the territory: name → theme (read
    from the database, not through the page's code)."""
    from ckan import model

    model.Session.remove()
    found = {}
    for package in model.Session.query(model.Package).filter_by(state="active", type="dataset"):
        extras = package.extras
        if extras.get("dataclic_perimeter") == BORDEAUX_METROPOLE:
            found[package.name] = extras.get("dataclic_theme") or "other"
    return found


@pytest.mark.ckan_config("ckan.plugins", HARVEST_PLUGINS)
@pytest.mark.ckan_config("ckanext.dataclic.harvest.allowed_hosts", "127.0.0.1")
@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BORDEAUX_METROPOLE)
@pytest.mark.ckan_config("WTF_CSRF_ENABLED", True)
@pytest.mark.usefixtures("harvest_tables", "with_test_worker")
def test_tick_two_sources_create_harvest_and_see_the_home_block(portal, browser, hubeau,
                                                                 create_with_upload):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    ARTIFACTS.mkdir(exist_ok=True)
    sysadmin = factories.Sysadmin(password=PASSWORD)
    org = factories.Organization(name="bordeaux-metropole", title="Bordeaux Métropole")
    factories.Organization(name="autre", title="Autre organisation")

    # Nothing for the territory yet: the home page says so.
    browser.get(f"{portal}/fr/")
    empty = wait(browser, visible(browser, ".dataclic-home-empty"), "no empty state")
    assert "Aucun jeu de données pour Bordeaux Métropole" in empty.text

    browser.get(f"{portal}/fr/user/login")
    browser.find_element(By.ID, "field-login").send_keys(sysadmin["name"])
    browser.find_element(By.ID, "field-password").send_keys(PASSWORD, Keys.ENTER)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".account.authed"), "login failed")

    # The page is reached from the admin area.
    forget_size_estimates()
    browser.get(f"{portal}/fr/ckan-admin")
    wait(browser, visible(browser, f"a[href$='{PAGE}']"), "no link in the admin area").click()
    wait(browser, visible(browser, "form.dataclic-territory-form"), "no sources form")
    assert "Sources pour Bordeaux Métropole" in browser.page_source
    # The size estimates come after the page, from its script: the national APIs are out of
    # reach here, so every placeholder becomes "inconnue", with the reason as a tooltip.
    wait(browser, lambda d: not d.find_elements(
        By.CSS_SELECTOR, "td.dataclic-estimate[data-pending]"), "the size estimates never came")
    cell = browser.find_element(By.CSS_SELECTOR,
                                f"tr[data-source='{TICKED[0]}'] td.dataclic-estimate")
    assert cell.text == "inconnue" and "API" in cell.get_attribute("title")
    for name in TICKED:
        row = browser.find_element(By.CSS_SELECTOR, f"tr[data-source='{name}']")
        assert row.find_element(By.CSS_SELECTOR, ".dataclic-method").text == \
            "Filtre côté serveur"
        press(browser, row.find_element(By.CSS_SELECTOR, "input[name=source]"))
    Select(browser.find_element(By.ID, "dataclic-owner-org")).select_by_value(org["name"])
    Select(browser.find_element(By.ID, "dataclic-frequency")).select_by_value("WEEKLY")
    press(browser, browser.find_element(By.CSS_SELECTOR,
                                        "form.dataclic-territory-form button[type=submit]"))
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".dataclic-outcome-created"))
         == len(TICKED), "the two sources were not reported as created")
    browser.save_screenshot(str(ARTIFACTS / "territory-sources-created.png"))

    created = harvest_sources()
    assert sorted(s["name"] for s in created) == sorted(
        f"{name}-epci-243300316" for name in TICKED)
    assert all(s["config"]["perimeter"] == BORDEAUX_METROPOLE
               and s["config"]["theme"] == "water" and s["frequency"] == "WEEKLY"
               for s in created)
    # Now shown as created, and not offered again.
    for name in TICKED:
        box = browser.find_element(By.CSS_SELECTOR, f"tr[data-source='{name}'] input")
        assert box.get_attribute("disabled") is not None

    # The form is CSRF-protected: the same POST with the session cookie but no token fails,
    # even after a request with an API token (CKAN then exempts the view from its own check).
    token = call_action("api_token_create", {"user": sysadmin["name"], "ignore_auth": True},
                        user=sysadmin["name"], name="territory-test")["token"]
    with pytest.raises(urllib.error.HTTPError) as empty:
        urllib.request.urlopen(urllib.request.Request(
            portal + PAGE, method="POST", headers={"Authorization": token},
            data=b"perimeter=epci%3A243300316"), timeout=60)
    assert empty.value.code == 400   # nothing ticked: refused, but CKAN's exemption is set
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies())
    forged = urllib.request.Request(
        portal + PAGE, method="POST", headers={"Cookie": cookies},
        data=b"perimeter=epci%3A243300316&theme=air&owner_org=bordeaux-metropole")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=60)
    assert refused.value.code in (400, 403)
    assert len(harvest_sources()) == len(TICKED)

    # Harvest them from the local fixture server (the national APIs are out of reach).
    for source in created:
        call_action("harvest_source_patch", {"ignore_auth": True, "user": sysadmin["name"]},
                    id=source["id"], url=hubeau.url + "/api")
        report = run_job(source["id"])
        assert report["status"] == "Finished", report
        assert report["gather_errors"] == [], report
        assert [o["errors"] for o in report["objects"].values()] == [[]], report
        assert any(o["package_id"] for o in report["objects"].values()), report

    # An extract published for the territory through dataclic_publish.
    published = publish_territory_extract(sysadmin, org, create_with_upload)

    expected = territory_datasets()
    assert published["package_name"] in expected
    browser.get(f"{portal}/fr/")
    wait(browser, visible(browser, ".dataclic-home-theme"), "no theme in the home block")
    assert "Données pour Bordeaux Métropole" in browser.page_source
    shown = {}
    for column in browser.find_elements(By.CSS_SELECTOR, ".dataclic-home-theme"):
        for item in column.find_elements(By.CSS_SELECTOR, "li[data-dataset]"):
            shown[item.get_attribute("data-dataset")] = column.get_attribute("data-theme")
    assert shown == expected
    assert browser.find_elements(By.CSS_SELECTOR, ".dataclic-home-map svg path")
    browser.save_screenshot(str(ARTIFACTS / "territory-home.png"))
    # The listed dataset opens.
    browser.find_element(By.CSS_SELECTOR,
                         f"li[data-dataset='{published['package_name']}'] a").click()
    wait(browser, lambda d: "/fr/dataset/" + published["package_name"] in d.current_url,
         "the dataset did not open")
