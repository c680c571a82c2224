"""A French visitor walks the portal's pages in a real browser and meets no English sentence
of the extension: home, dataset search, dataset, resource with the extraction panel (used),
/harvest, /harvest/new, a harvest source's job list and job report.

"English sentence of the extension": any message of its French catalogue (its own, its
harvesters' and the ckanext-harvest messages it translates) whose French differs, cut at its
placeholders into pieces of two words or more; and the English titles and descriptions of its
curated catalogue. Visible text and tooltips (title, aria-label, placeholder, alt) are read.
"""
from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po
from ckan.tests import factories
from ckan.tests.helpers import call_action

from ckanext.dataclic.harvesters.catalogue import load_catalogue
from ckanext.dataclic.translation_sources import PO

from .test_extract_widget import choose, visible, wait

HARVEST_PLUGINS = (
    "dataclic_pgsearch dataclic dataclic_udata dataclic_ods dataclic_hubeau "
    "dataclic_georisques dataclic_wfs dataclic_datafair harvest"
)
PASSWORD = "Moissonner-33-Gironde"
READ_TEXT = """
const parts = [document.title, document.body.innerText];
for (const el of document.querySelectorAll('[title],[aria-label],[placeholder],[alt]')) {
  for (const name of ['title', 'aria-label', 'placeholder', 'alt']) {
    if (el.hasAttribute(name)) { parts.push(el.getAttribute(name)); }
  }
}
return parts.join('\\n');
"""


def english_sentences() -> set[str]:
    with PO.open("rb") as handle:
        catalogue = read_po(handle, locale="fr")
    pieces: set[str] = set()
    for entry in catalogue:
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for message in ids:
            if message in strings:
                continue   # the same in French (a name, an acronym)
            for piece in re.split(r"\{[^}]*\}|%\(?\w*\)?s", message):
                piece = piece.strip(" .,:;()\"'…")
                if len(piece.split()) >= 2 and len(piece) >= 8:
                    pieces.add(piece)
    for entry in load_catalogue():
        pieces |= {entry.title, entry.description}
        if entry.producer != entry.producer_fr:
            pieces.add(entry.producer)
    return pieces


def test_the_finder_sees_english():
    sentences = english_sentences()
    assert "Extract for a territory" in sentences
    assert "rows for" in sentences                  # from "{count} rows for {name}"
    assert "Add Harvest Source" in sentences        # ckanext-harvest, translated by us
    assert "Natura 2000 sites under the Birds directive (ZPS)" in sentences


@pytest.fixture()
def harvest_tables(clean_db, with_plugins, migrate_db_for):
    # clean_db rebuilds CKAN's tables only; ckanext-harvest's come from its migrations, and
    # must exist before any dataset is created (its plugin looks datasets up in them).
    migrate_db_for("harvest")


def english_on(driver, sentences: set[str]) -> list[str]:
    text = " ".join(driver.execute_script(READ_TEXT).split())
    return sorted(s for s in sentences if s in text)


@pytest.mark.ckan_config("ckan.plugins", HARVEST_PLUGINS)
@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", "epci:243300316")
@pytest.mark.usefixtures("clean_db", "clean_index", "with_plugins", "harvest_tables")
def test_french_pages_show_no_english_sentence(demo_resource, portal, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    sentences = english_sentences()
    dataset, resource = demo_resource["dataset"], demo_resource["resource"]
    admin = factories.Sysadmin(password=PASSWORD)
    source = call_action(
        "harvest_source_create", name="nappes", title="Stations des nappes",
        url="https://hubeau.eaufrance.fr/api", source_type="dataclic_hubeau",
        config='{"endpoints": ["v1/niveaux_nappes/stations"]}',
        owner_org=demo_resource["organization"]["id"], frequency="MANUAL")
    job = call_action("harvest_job_create", source_id=source["id"])

    found: dict[str, list[str]] = {}

    def walk(path: str, french: str, ready_css: str = "body") -> None:
        browser.get(f"{portal}{path}")
        wait(browser, visible(browser, ready_css), f"{path}: {ready_css} not shown")
        wait(browser, lambda d: french in d.execute_script(READ_TEXT),
             f"{path}: no {french!r} (is the page French?)")
        english = english_on(browser, sentences)
        if english:
            found[path] = english

    walk("/fr/", "Données pour Bordeaux Métropole")
    walk("/fr/dataset/", "Communes de Gironde")
    walk(f"/fr/dataset/{dataset['name']}", "Communes de Gironde")

    # The resource page, with the panel used: suggestions, preview, result and its report.
    page = f"/fr/dataset/{dataset['name']}/resource/{resource['id']}"
    walk(page, "Extraire pour un territoire", "section.dataclic-extract")
    panel = browser.find_element(By.CSS_SELECTOR, "section.dataclic-extract")
    choose(browser, panel, "bordeaux met", "Bordeaux Métropole")
    wait(browser, lambda d: "lignes pour" in panel.find_element(
        By.CSS_SELECTOR, ".dataclic-preview").text, "no preview")
    Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-format")).select_by_value("csv")
    panel.find_element(By.CSS_SELECTOR, "button.dataclic-download").click()
    wait(browser, visible(browser, "a.dataclic-download-link"), "no result")
    english = english_on(browser, sentences)
    if english:
        found[page + " (after an extraction)"] = english

    # Harvest pages, as the portal's administrator.
    browser.get(f"{portal}/fr/user/login")
    browser.find_element(By.ID, "field-login").send_keys(admin["name"])
    browser.find_element(By.ID, "field-password").send_keys(PASSWORD, Keys.ENTER)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".account.authed"), "login failed")
    walk("/fr/harvest", "1 source de moissonnage trouvée")
    walk("/fr/harvest/new", "Sources vertes sélectionnées")
    walk(f"/fr/harvest/{source['name']}/job", "Tâches de moissonnage")
    walk(f"/fr/harvest/{source['name']}/job/{job['id']}", "Rapport de la tâche")

    assert not found, f"English sentences of the extension on French pages: {found}"
