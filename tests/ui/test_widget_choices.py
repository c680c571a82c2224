"""The panel never shows a result that no longer matches its form, speaks French plurals and
writes dates the French way.

A citizen extracts Bordeaux Métropole, then chooses Mérignac: the green "Télécharger …" button
of Bordeaux Métropole must be gone at once (else they could download the wrong territory's
file). The same for another format, coordinate system or selection mode.
"""
from __future__ import annotations

import datetime
import json
import urllib.request

import pytest
from babel.dates import format_date

from .test_extract_widget import TIMEOUT, choose, visible, wait

MERIGNAC = "33281"


def shown_result(panel) -> list[str]:
    """What of a result is on screen right now: download links, report lines, publish form."""
    from selenium.webdriver.common.by import By

    selectors = (".dataclic-download-link", ".dataclic-report li", "form.dataclic-publish",
                 ".dataclic-progress")
    return [f"{css}: {e.text}" for css in selectors
            for e in panel.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]


def preview_is(panel, text: str):
    from selenium.webdriver.common.by import By

    return lambda d: panel.find_element(By.CSS_SELECTOR, ".dataclic-preview").text == text


def download(driver, panel) -> str:
    """Click Download, wait for the result; returns the link's text."""
    from selenium.webdriver.common.by import By

    panel.find_element(By.CSS_SELECTOR, "button.dataclic-download").click()
    link = wait(driver, visible(driver, "a.dataclic-download-link"), "no download link")
    return link.text


@pytest.mark.usefixtures("clean_db", "with_plugins")
def test_another_choice_removes_the_previous_result_at_once(demo_resource, portal, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    dataset, resource = demo_resource["dataset"], demo_resource["resource"]
    browser.get(f"{portal}/fr/dataset/{dataset['name']}/resource/{resource['id']}")
    panel = wait(browser, visible(browser, "section.dataclic-extract"), "no panel")
    choose(browser, panel, "bordeaux met", "Bordeaux Métropole")
    wait(browser, preview_is(panel, "≈ 28 lignes pour Bordeaux Métropole"), "no plural preview")
    fmt = Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-format"))
    fmt.select_by_value("geojson")
    label = download(browser, panel)
    assert "bordeaux-metropole" in label, label
    # The report dates the result the French way ("6 décembre 2026"), as babel writes it.
    today = format_date(datetime.datetime.now(datetime.timezone.utc).date(), "long", locale="fr")
    report = panel.find_element(By.CSS_SELECTOR, ".dataclic-report").text
    assert f"Extrait le {today}" in report, report

    # Another territory: Bordeaux Métropole's result is gone before anything else happens.
    choose(browser, panel, MERIGNAC, "Mérignac")
    assert shown_result(panel) == []
    # One row: the French singular, estimated then exact.
    wait(browser, preview_is(panel, "≈ 1 ligne pour Mérignac"), "no singular preview")
    label = download(browser, panel)
    assert "merignac" in label and "bordeaux" not in label, label
    href = panel.find_element(By.CSS_SELECTOR, "a.dataclic-download-link").get_attribute("href")
    with urllib.request.urlopen(href, timeout=TIMEOUT) as response:
        features = json.load(response)["features"]
    assert [f["properties"]["code_commune"] for f in features] == [MERIGNAC]

    # Another coordinate system: the Mérignac file in WGS 84 is not what the form asks now.
    crs = Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-crs"))
    crs.select_by_value("EPSG:2154")
    assert shown_result(panel) == []
    download(browser, panel)

    # Another format.
    fmt.select_by_value("csv")
    assert shown_result(panel) == []
    download(browser, panel)

    # Another selection mode (where the file offers several).
    modes = panel.find_elements(By.CSS_SELECTOR, "select.dataclic-mode")
    if modes:
        mode = Select(modes[0])
        other = next(o.get_attribute("value") for o in mode.options if not o.is_selected())
        mode.select_by_value(other)
        assert shown_result(panel) == []

    # Typing in the box (a new search) removes it too, and the exact count is singular.
    choose(browser, panel, MERIGNAC, "Mérignac")
    if modes:
        Select(modes[0]).select_by_value("filter")
    wait(browser, preview_is(panel, "1 ligne pour Mérignac"), "no exact singular preview")


@pytest.mark.usefixtures("clean_db", "with_plugins")
def test_an_extraction_started_for_the_previous_choice_never_shows(
        demo_resource, portal, browser, ckan_config):
    """An extraction still queued when the citizen picks another territory: its result, when
    the worker finishes it, is not shown under the new choice."""
    from ckan.lib import jobs
    from ckan.tests.helpers import call_action
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    ckan_config["ckanext.dataclic.extract.sync_max_bytes"] = "0"   # every extraction is a job
    dataset, resource = demo_resource["dataset"], demo_resource["resource"]
    browser.get(f"{portal}/fr/dataset/{dataset['name']}/resource/{resource['id']}")
    panel = wait(browser, visible(browser, "section.dataclic-extract"), "no panel")
    choose(browser, panel, "bordeaux met", "Bordeaux Métropole")
    Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-format")).select_by_value("csv")
    panel.find_element(By.CSS_SELECTOR, "button.dataclic-download").click()

    def queued() -> list[dict]:
        return [r for r in call_action("dataclic_extract_list", resource_id=resource["id"])
                if r["status"] == "queued"]

    wait(browser, lambda d: queued(), "the extraction was not queued")
    wait(browser, visible(browser, ".dataclic-progress"), "no progress bar")
    choose(browser, panel, MERIGNAC, "Mérignac")
    assert shown_result(panel) == []
    button = panel.find_element(By.CSS_SELECTOR, "button.dataclic-download")
    wait(browser, lambda d: button.is_enabled(), "Download stays disabled for the new choice")
    # The new choice's extraction, queued after the old one; the worker runs both.
    button.click()
    wait(browser, lambda d: len(queued()) == 2, "the new extraction was not queued")
    jobs.Worker(["default"]).work(burst=True)
    link = wait(browser, visible(browser, "a.dataclic-download-link"), "no result")
    assert "merignac" in link.text and "bordeaux" not in link.text, link.text
    done = call_action("dataclic_extract_list", resource_id=resource["id"])
    assert sorted(r["status"] for r in done) == ["done", "done"]
    assert "bordeaux" not in panel.find_element(By.CSS_SELECTOR, ".dataclic-result").text.lower()
