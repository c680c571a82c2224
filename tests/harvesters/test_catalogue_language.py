"""The curated catalogue and the harvest pages in the page's language (French and English),
and harvest sources created from the command line in the portal's default language."""

from __future__ import annotations

import html

import pytest

from ckanext.dataclic.harvesters.catalogue import load_catalogue

from .conftest import harvest_marks

pytestmark = harvest_marks


def test_every_curated_source_has_french_and_english_words():
    for entry in load_catalogue():
        assert entry.title_fr and entry.title_fr != entry.title, entry.name
        assert entry.description and entry.description_fr, entry.name
        assert entry.description_fr != entry.description, entry.name
        assert entry.producer_fr, entry.name
        assert entry.localised("fr_FR")["title"] == entry.title_fr
        assert entry.localised("en")["description"] == entry.description


def page_text(app, url: str) -> str:
    from ckan.tests import factories

    sysadmin = factories.SysadminWithToken()
    response = app.get(url, headers={"Authorization": sysadmin["token"]})
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_new_source_page_in_french(app):
    body = page_text(app, "/fr/harvest/new")
    assert "Sources vertes sélectionnées" in body
    assert "Créer une source de moissonnage" in body
    for entry in load_catalogue():
        assert entry.title_fr in body, entry.name
        assert entry.title not in body, f"English title of {entry.name} on the French page"
    assert "Biodiversité" in body and "Occupation des sols" in body
    # The harvester types' descriptions (tooltips) are French too.
    assert "Couches d'un service OGC WFS 2.0" in body
    assert "Layers of an OGC WFS 2.0 service" not in body


def test_new_source_page_in_english(app):
    body = page_text(app, "/harvest/new")
    for entry in load_catalogue():
        assert entry.title in body, entry.name
    assert "Create Harvest Source" in body and "Biodiversity" in body
    assert "Layers of an OGC WFS 2.0 service" in body


def test_harvest_list_and_job_pages_in_french(app, org):
    from ckan.tests import helpers

    from .conftest import make_source

    source = make_source("https://hubeau.eaufrance.fr/api", "dataclic_hubeau",
                         {"endpoints": ["v1/niveaux_nappes/stations"]}, org, name="nappes")
    job = helpers.call_action("harvest_job_create", source_id=source["id"])
    listing = page_text(app, "/fr/harvest")
    assert "1 source de moissonnage trouvée" in listing
    assert "harvest found" not in listing
    jobs = page_text(app, f"/fr/harvest/{source['name']}/job")
    assert "Tâches de moissonnage" in jobs and "Harvest Jobs" not in jobs
    report = page_text(app, f"/fr/harvest/{source['name']}/job/{job['id']}")
    assert "Rapport de la tâche" in report and "Job Report" not in report


@pytest.mark.ckan_config("ckan.locale_default", "fr")
def test_cli_creates_sources_in_the_portal_language(cli, org):
    from ckan.tests import helpers

    from ckanext.dataclic.harvesters.cli import sources

    added = cli.invoke(sources, ["add", "inpn-znieff", "--org", org["name"]])
    assert added.exit_code == 0, added.output
    source = helpers.call_action("harvest_source_show", id="inpn-znieff")
    entry = next(e for e in load_catalogue() if e.name == "inpn-znieff")
    assert source["title"] == entry.title_fr
    assert source["notes"] == entry.description_fr
