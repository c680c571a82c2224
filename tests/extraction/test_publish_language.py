"""What dataclic_publish writes into the portal (dataset notes, resource description, stored
refresh outcome) is in the portal's default language, with dates written out in it."""
from __future__ import annotations

import datetime

import pytest

from ckanext.dataclic.extraction import publication
from ckanext.dataclic.model import extraction as store

from .test_actions import call
from .test_publish import extract, source  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")

MOIS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
        "octobre", "novembre", "décembre"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


def extracted_on(record_id: str) -> datetime.date:
    return store.get_extraction(record_id)["finished"].date()


@pytest.mark.ckan_config("ckan.locale_default", "fr")
def test_a_french_portal_gets_french_descriptions(app, editor, org, source):  # noqa: F811
    _dataset, resource = source
    record = extract(app, resource)
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["name"])["result"]
    day = extracted_on(record["id"])
    published = call(app, "package_show", user=editor, id=result["package_id"])["result"]
    assert published["notes"] == (
        "Extrait du jeu de données Population des communes pour Bordeaux Métropole, découpé "
        f"avec le référentiel COG 2026 (sélection : Filtrer par code commune) le "
        f"{day.day} {MOIS[day.month - 1]} {day.year}.")
    [res] = published["resources"]
    assert res["description"] == \
        "Extrait de population.csv pour Bordeaux Métropole (COG 2026), 28 lignes."

    # A refresh runs in a job, with no request: its stored outcome is French too.
    from ckan.tests import helpers

    helpers.call_action("resource_delete", id=resource["id"])
    assert publication.refresh(result["resource_id"], force=True) == "failed"
    item = store.get_publication(result["resource_id"])
    assert item["refresh_message"] == "La ressource source a été supprimée"


@pytest.mark.ckan_config("ckan.locale_default", "en")
def test_an_english_portal_gets_english_descriptions(app, editor, org, source):  # noqa: F811
    _dataset, resource = source
    record = extract(app, resource, perimeter="commune:33063")
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["name"])["result"]
    day = extracted_on(record["id"])
    published = call(app, "package_show", user=editor, id=result["package_id"])["result"]
    assert published["notes"] == (
        "Extract of the dataset Population des communes for Bordeaux, cut with the COG 2026 "
        f"referential (selection: Filter by commune code) on {MONTHS[day.month - 1]} "
        f"{day.day}, {day.year}.")
    [res] = published["resources"]
    assert res["description"] == "Extract of population.csv for Bordeaux (COG 2026), 1 row."
