"""The "Extract for a territory" panel in a real headless Chromium against a served portal.

A citizen searches "bordeaux met", picks Bordeaux Métropole with the keyboard, asks for
GeoJSON, downloads, and gets exactly the 28 member communes; a commune of Bretagne is told to
have no rows before any extraction; an editor then publishes the extract into a new dataset
and into an existing one, and finds both.
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
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The panel redraws parts of itself (the map's SVG, the suggestions) as answers arrive:
    # an element found a moment ago may be gone; look again rather than fail.
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)
                         ).until(condition, message)


def visible(driver, css: str):
    from selenium.webdriver.common.by import By

    def found(d):
        elements = [e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        return elements[0] if elements else False

    return found


def ready_panel(driver):
    """The panel once its script listens to the territory box (on a busy machine the page can
    show the box well before its script has started)."""
    return wait(driver, visible(driver, "section.dataclic-extract.dataclic-ready"),
                "the panel's script did not start")


def first_suggestion(driver, expected: str):
    """The first suggestion once it names ``expected``.

    On a busy machine the browser may type slowly enough for a search of the first letters
    to answer before the last ones are typed, and the first search after start-up takes ~2 s
    while the index loads: wait (polling) for the list of the whole text."""
    from selenium.webdriver.common.by import By

    def named(d):
        options = [o for o in d.find_elements(By.CSS_SELECTOR, ".dataclic-listbox [role=option]")
                   if o.is_displayed()]
        return options[0] if options and expected in options[0].text else False

    return wait(driver, named, f"no suggestion naming {expected}")


def choose(driver, panel, text: str, expected: str) -> None:
    """Type ``text`` in the territory box and pick the first suggestion with the keyboard."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ready_panel(driver)
    box = panel.find_element(By.CSS_SELECTOR, "input[role=combobox]")
    box.clear()
    box.send_keys(text)
    first_suggestion(driver, expected)
    box.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
    assert box.get_attribute("value") == expected


def extract_bordeaux_metropole_as_geojson(driver, preview_line: str) -> str:
    """Search, choose, ask for GeoJSON, download; returns the download URL."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    panel = ready_panel(driver)
    box = panel.find_element(By.CSS_SELECTOR, "input[role=combobox]")
    box.clear()
    box.send_keys("bordeaux met")
    option = first_suggestion(driver, "Bordeaux Métropole")
    assert box.get_attribute("aria-expanded") == "true"
    # Keyboard only: down to the first suggestion, Enter to choose it.
    box.send_keys(Keys.ARROW_DOWN)
    assert box.get_attribute("aria-activedescendant") == option.get_attribute("id")
    box.send_keys(Keys.ENTER)
    assert box.get_attribute("value") == "Bordeaux Métropole"
    wait(driver, visible(driver, ".dataclic-map svg path.dataclic-map-perimeter"), "no map")
    # Under the perimeter, the outline of what the file covers (Gironde, from its profile).
    wait(driver, visible(driver, ".dataclic-map svg .dataclic-map-extent"), "no resource extent")
    preview = wait(driver, lambda d: panel.find_element(By.CSS_SELECTOR,
                                                        ".dataclic-preview").text,
                   "no preview line")
    assert preview == preview_line, preview
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
    ready_panel(browser)
    box = wait(browser, visible(browser, "input[role=combobox]"), "no territory box")
    box.send_keys("zzqxw")
    empty = wait(browser, visible(browser, ".dataclic-listbox .dataclic-empty"), "no empty state")
    assert empty.text == "Aucun territoire trouvé"
    box.send_keys(Keys.ESCAPE)
    browser.find_element(By.CSS_SELECTOR, "button.dataclic-download").click()
    error = wait(browser, visible(browser, ".dataclic-error"), "no error for a missing territory")
    assert "Choisissez d'abord un territoire" in error.text
    assert not call_action("dataclic_extract_list", resource_id=resource["id"])

    # A commune of Bretagne is outside the Gironde file: the preview says so before any
    # extraction, and Download is disabled.
    panel = browser.find_element(By.CSS_SELECTOR, "section.dataclic-extract")
    choose(browser, panel, "35238", "Rennes")
    none = wait(browser, lambda d: panel.find_element(By.CSS_SELECTOR, ".dataclic-preview")
                .text.startswith("Aucune ligne"), "no 'no rows' preview for Rennes")
    assert none
    assert "text-danger" in panel.find_element(By.CSS_SELECTOR, ".dataclic-preview") \
        .get_attribute("class")
    button = panel.find_element(By.CSS_SELECTOR, "button.dataclic-download")
    assert not button.is_enabled()
    browser.execute_script("arguments[0].click()", button)
    assert not call_action("dataclic_extract_list", resource_id=resource["id"])

    # Before any extraction the count is estimated from the file's coverage ("≈").
    href = extract_bordeaux_metropole_as_geojson(browser, "≈ 28 lignes pour Bordeaux Métropole")
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
        panel = ready_panel(browser)
        box = panel.find_element(By.CSS_SELECTOR, "input[role=combobox]")
        box.send_keys("bordeaux met")
        first_suggestion(browser, "Bordeaux Métropole")
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
    # Now it is exact: a finished extraction of the same file answers.
    extract_bordeaux_metropole_as_geojson(browser, "28 lignes pour Bordeaux Métropole")
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

    # The same extract, published into an existing dataset of the organisation: the source
    # dataset itself gets one more resource, with its provenance.
    browser.get(page)
    # Now it is exact: a finished extraction of the same file answers.
    extract_bordeaux_metropole_as_geojson(browser, "28 lignes pour Bordeaux Métropole")
    publish = wait(browser, visible(browser, "form.dataclic-publish"), "no publish form")
    publish.find_element(By.CSS_SELECTOR, "label[for$='-target-existing']").click()
    datasets = wait(browser, lambda d: [o for o in publish.find_elements(
        By.CSS_SELECTOR, "select.dataclic-dataset option") if o.text], "no dataset listed")
    assert "Communes de Gironde" in {o.text for o in datasets}
    Select(publish.find_element(By.CSS_SELECTOR, "select.dataclic-dataset")) \
        .select_by_value(dataset["id"])
    publish.find_element(By.CSS_SELECTOR, "button.dataclic-publish-button").click()
    published = wait(browser, visible(browser, "a.dataclic-published-link"),
                     "not published into the existing dataset")
    assert published.text == dataset["name"]
    published.click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "section.dataclic-provenance"),
         "the existing dataset shows no provenance")
    assert f"/fr/dataset/{dataset['name']}" in browser.current_url
    shown = call_action("package_show", id=dataset["id"])
    added = [r for r in shown["resources"] if r.get("dataclic_perimeter") == BORDEAUX_METROPOLE]
    assert len(shown["resources"]) == 2 and len(added) == 1


@pytest.mark.usefixtures("clean_db", "with_plugins")
def test_a_failed_background_job_shows_its_reason_and_try_again_reruns_it(
        demo_resource, portal, browser, ckan_config):
    """Extractions run as RQ jobs here (nothing is small enough to run within the request):
    the panel waits for a worker, shows the job's failure and its reason, and Try again
    queues a new job that succeeds."""
    from ckan.lib import jobs
    from ckan.lib.uploader import get_resource_uploader
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    ckan_config["ckanext.dataclic.extract.sync_max_bytes"] = "0"
    dataset, resource = demo_resource["dataset"], demo_resource["resource"]
    browser.get(f"{portal}/fr/dataset/{dataset['name']}/resource/{resource['id']}")
    panel = wait(browser, visible(browser, "section.dataclic-extract"), "no panel")
    choose(browser, panel, "bordeaux met", "Bordeaux Métropole")
    Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-format")).select_by_value("csv")

    def queued() -> list[dict]:
        return [r for r in call_action("dataclic_extract_list", resource_id=resource["id"])
                if r["status"] == "queued"]

    stored = Path(get_resource_uploader(resource).get_path(resource["id"]))
    original = stored.read_bytes()
    stored.write_bytes(b'{"type": "FeatureCollection", "features": [{"type": "Feat')
    try:
        panel.find_element(By.CSS_SELECTOR, "button.dataclic-download").click()
        wait(browser, lambda d: queued(), "the extraction was not queued")
        status = panel.find_element(By.CSS_SELECTOR, ".dataclic-status")
        wait(browser, lambda d: status.text == "En attente d'un processus de traitement…"
             or "Extraction" in status.text, f"no waiting state: {status.text!r}")
        assert panel.find_element(By.CSS_SELECTOR, ".dataclic-progress").is_displayed()
        jobs.Worker(["default"]).work(burst=True)   # the job runs, and fails
        error = wait(browser, visible(browser, ".dataclic-error"), "the failed job is not shown")
        message = error.find_element(By.CSS_SELECTOR, ".dataclic-error-message").text
        assert message.startswith("L'extraction a échoué"), message
        assert len(message) > len("L'extraction a échoué : "), "no reason given"
        failed = [r for r in call_action("dataclic_extract_list", resource_id=resource["id"])
                  if r["status"] == "failed"]
        assert len(failed) == 1 and failed[0]["error"]
        retry = error.find_element(By.CSS_SELECTOR, "button.dataclic-retry")
        assert retry.is_displayed()
    finally:
        stored.write_bytes(original)
    retry.click()
    wait(browser, lambda d: queued(), "Try again queued nothing")
    jobs.Worker(["default"]).work(burst=True)
    wait(browser, visible(browser, "a.dataclic-download-link"), "Try again did not recover")
    assert not browser.find_element(By.CSS_SELECTOR, ".dataclic-error").is_displayed()
    assert panel.find_element(By.CSS_SELECTOR, ".dataclic-progress .progress") \
        .get_attribute("aria-valuenow") == "100"
