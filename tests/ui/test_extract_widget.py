"""The "Extract for a territory" panel in a real headless Chromium against a served portal.

A citizen searches "bordeaux met", picks Bordeaux Métropole with the keyboard, asks for
GeoJSON, downloads, and gets exactly the 28 member communes; an editor then publishes the
extract and finds the new dataset.
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from ckan.tests.helpers import call_action

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"   # git-ignored
BORDEAUX_METROPOLE = "epci:243300316"
TIMEOUT = 60


def wait(driver, condition, message: str, timeout: float = TIMEOUT):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message)


def visible(driver, css: str):
    from selenium.webdriver.common.by import By

    def found(d):
        elements = [e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        return elements[0] if elements else False

    return found


def extract_bordeaux_metropole_as_geojson(driver) -> str:
    """Search, choose, ask for GeoJSON, download; returns the download URL."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    panel = wait(driver, visible(driver, "section.dataclic-extract"), "no extraction panel")
    box = panel.find_element(By.CSS_SELECTOR, "input[role=combobox]")
    box.clear()
    box.send_keys("bordeaux met")
    option = wait(driver, visible(driver, ".dataclic-listbox [role=option]"), "no suggestion")
    assert "Bordeaux Métropole" in option.text
    assert box.get_attribute("aria-expanded") == "true"
    # Keyboard only: down to the first suggestion, Enter to choose it.
    box.send_keys(Keys.ARROW_DOWN)
    assert box.get_attribute("aria-activedescendant") == option.get_attribute("id")
    box.send_keys(Keys.ENTER)
    assert box.get_attribute("value") == "Bordeaux Métropole"
    wait(driver, visible(driver, ".dataclic-map svg path.dataclic-map-perimeter"), "no map")
    wait(driver, lambda d: panel.find_element(By.CSS_SELECTOR, ".dataclic-preview").text,
         "no preview line")
    modes = panel.find_elements(By.CSS_SELECTOR, "select.dataclic-mode")
    if modes:
        Select(modes[0]).select_by_value("filter")
    Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-format")).select_by_value("geojson")
    button = panel.find_element(By.CSS_SELECTOR, "button.dataclic-download")
    # A double click starts one extraction (checked below through the extraction list).
    driver.execute_script("arguments[0].click(); arguments[0].click();", button)
    link = wait(driver, visible(driver, "a.dataclic-download-link"), "no download link")
    bar = panel.find_element(By.CSS_SELECTOR, ".dataclic-progress .progress")
    assert bar.get_attribute("aria-valuenow") == "100"
    assert "100" in panel.find_element(By.CSS_SELECTOR, ".progress-bar").text
    return link.get_attribute("href")


@pytest.mark.usefixtures("clean_db", "with_plugins")
def test_extract_and_publish_in_a_real_browser(demo_resource, portal, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    from ckanext.dataclic.territories import Referential

    dataset, resource = demo_resource["dataset"], demo_resource["resource"]
    page = f"{portal}/fr/dataset/{dataset['name']}/resource/{resource['id']}"
    browser.get(page)
    assert "Extraire pour un territoire" in browser.page_source

    # Nonsense finds nothing, and says so; Download without a territory asks for one.
    box = wait(browser, visible(browser, "input[role=combobox]"), "no territory box")
    box.send_keys("zzqxw")
    empty = wait(browser, visible(browser, ".dataclic-listbox .dataclic-empty"), "no empty state")
    assert empty.text == "Aucun territoire trouvé"
    box.send_keys(Keys.ESCAPE)
    browser.find_element(By.CSS_SELECTOR, "button.dataclic-download").click()
    error = wait(browser, visible(browser, ".dataclic-error"), "no error for a missing territory")
    assert "Choisissez d'abord un territoire" in error.text
    assert not call_action("dataclic_extract_list", resource_id=resource["id"])

    href = extract_bordeaux_metropole_as_geojson(browser)
    ARTIFACTS.mkdir(exist_ok=True)
    panel = browser.find_element(By.CSS_SELECTOR, "section.dataclic-extract")
    browser.execute_script("arguments[0].scrollIntoView()", panel)
    panel.screenshot(str(ARTIFACTS / "extract-panel-fr.png"))

    with urllib.request.urlopen(href, timeout=TIMEOUT) as response:
        collection = json.load(response)
    codes = sorted(f["properties"]["code_commune"] for f in collection["features"])
    assert codes == sorted(Referential.default().resolve(BORDEAUX_METROPOLE).communes)
    assert len(codes) == 28
    extractions = call_action("dataclic_extract_list", resource_id=resource["id"])
    assert len(extractions) == 1, "a double click started two extractions"

    # The file breaks behind the portal's back: the failure is explained, Try again re-runs
    # the same request, and works once the file is back.
    from ckan.lib.uploader import get_resource_uploader

    stored = Path(get_resource_uploader(resource).get_path(resource["id"]))
    original = stored.read_bytes()
    stored.write_bytes(b'{"type": "FeatureCollection", "features": [{"type": "Feat')
    try:
        browser.get(page)
        panel = wait(browser, visible(browser, "section.dataclic-extract"), "no panel")
        box = panel.find_element(By.CSS_SELECTOR, "input[role=combobox]")
        box.send_keys("bordeaux met")
        wait(browser, visible(browser, ".dataclic-listbox [role=option]"), "no suggestion")
        box.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
        Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-format")) \
            .select_by_value("csv")
        panel.find_element(By.CSS_SELECTOR, "button.dataclic-download").click()
        error = wait(browser, visible(browser, ".dataclic-error"), "a broken file did not fail")
        assert error.find_element(By.CSS_SELECTOR, ".dataclic-error-message").text.strip()
        retry = error.find_element(By.CSS_SELECTOR, "button.dataclic-retry")
        assert retry.is_displayed()
    finally:
        stored.write_bytes(original)
    retry.click()
    wait(browser, visible(browser, "a.dataclic-download-link"), "Try again did not recover")
    assert not browser.find_element(By.CSS_SELECTOR, ".dataclic-error").is_displayed()

    # An editor logs in, extracts again (from the cache) and publishes to the organisation.
    browser.get(f"{portal}/fr/user/login")
    browser.find_element(By.ID, "field-login").send_keys(demo_resource["editor"]["name"])
    browser.find_element(By.ID, "field-password").send_keys("Extraire-33-Gironde", Keys.ENTER)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".account.authed"),
         "login failed")
    browser.get(page)
    extract_bordeaux_metropole_as_geojson(browser)
    publish = wait(browser, visible(browser, "form.dataclic-publish"), "no publish form")
    organization = Select(publish.find_element(By.CSS_SELECTOR, "select.dataclic-org"))
    organization.select_by_value(demo_resource["organization"]["id"])
    publish.find_element(By.CSS_SELECTOR, "button.dataclic-publish-button").click()
    published = wait(browser, visible(browser, "a.dataclic-published-link"), "not published")
    published.click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "section.dataclic-provenance"),
         "the published dataset shows no provenance")
    assert "/fr/dataset/" in browser.current_url, "the dataset link lost the page's language"
    assert "Extraire pour un territoire" in browser.page_source
    assert "Bordeaux Métropole" in browser.page_source
    assert "Communes de Gironde" in browser.page_source
    browser.save_screenshot(str(ARTIFACTS / "published-dataset-fr.png"))
