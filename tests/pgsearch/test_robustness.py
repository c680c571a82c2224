"""Autocomplete on part of a word (Solr's n-gram fields), control characters in every
search parameter, and an unreachable search database: never a 500."""
from __future__ import annotations

import json

import pytest
from ckan.tests import factories, helpers

from ckanext.dataclic.pgsearch.connection import URL_OPTION

pytestmark = [
    pytest.mark.usefixtures("clean_db", "clean_index"),
    pytest.mark.ckan_config("ckan.auth.create_unowned_dataset", True),
]


def test_package_autocomplete_matches_the_middle_of_names_and_titles():
    factories.Dataset(name="warandpeace", title="Guerre et paix")
    factories.Dataset(name="ecoles", title="Some public stuff")
    factories.Dataset(name="rivieres", title="Some random stuff")
    found = helpers.call_action("package_autocomplete", q="war")
    assert [(r["name"], r["match_field"]) for r in found] == [("warandpeace", "name")]
    assert {r["name"] for r in helpers.call_action("package_autocomplete", q="bli")} == {
        "ecoles"}
    assert {r["name"] for r in helpers.call_action("package_autocomplete", q="tuf")} == {
        "ecoles", "rivieres"}
    assert {r["name"] for r in helpers.call_action("package_autocomplete", q="PEACE")} == {
        "warandpeace"}
    # One letter, or a word longer than the 10-character grams, matches no gram.
    assert helpers.call_action("package_autocomplete", q="z") == []
    assert helpers.call_action("package_autocomplete", q="warandpeaceandmore") == []


def test_api_dataset_autocomplete_on_part_of_a_word(app):
    factories.Dataset(name="rivers", title="Rivers")
    factories.Dataset(name="lakes", title="Lakes")
    response = app.get("/api/2/util/dataset/autocomplete", query_string={"incomplete": "ive"})
    results = response.json["ResultSet"]["Result"]
    assert [r["name"] for r in results] == ["rivers"]


CONTROL_VALUES = ["eau\x00", "\x00", "eau\x1fpotable", "\x07"]


@pytest.mark.parametrize("value", CONTROL_VALUES)
@pytest.mark.parametrize("param", ["q", "fq", "sort", "facet.field"])
def test_control_characters_in_the_search_api_are_a_clear_400(app, param, value):
    factories.Dataset(name="survivor", title="Survivor")
    if param == "facet.field":  # the API takes a JSON list
        value = json.dumps([value])
    response = app.get("/api/3/action/package_search", query_string={param: value})
    assert response.status_code == 400, response.body
    assert "control character" in response.json["error"]["message"]
    assert helpers.call_action("package_search", q="survivor")["count"] == 1


@pytest.mark.parametrize("param", ["q", "tags", "res_format", "sort", "organization"])
def test_control_characters_on_the_dataset_page_are_a_clear_400_in_french(app, param):
    factories.Dataset(name="survivor", title="Survivor")
    value = "name asc\x00" if param == "sort" else "eau\x00"
    response = app.get("/fr/dataset/", query_string={param: value})
    assert response.status_code == 400, response.status_code
    assert "caractère de contrôle" in response.body
    english = app.get("/dataset/", query_string={param: value})
    assert english.status_code == 400 and "control character" in english.body


@pytest.fixture
def unreachable_index(ckan_config, monkeypatch):
    # Nothing listens on port 1: every connection is refused at once.
    monkeypatch.setitem(ckan_config, URL_OPTION, "postgresql://ckan@127.0.0.1:1/nowhere")


def test_unreachable_search_database_is_a_search_error_not_a_500(app, unreachable_index):
    page = app.get("/dataset/")
    assert page.status_code == 200
    assert "error" in page.body and "while searching" in page.body
    api = app.get("/api/3/action/package_search", query_string={"q": "eau"})
    assert api.status_code == 409
    message = api.json["error"]["message"]
    assert "search service is unavailable" in message
    assert "127.0.0.1:1" not in message and "nowhere" not in message
    french = app.get("/fr/api/3/action/package_search", query_string={"q": "eau"})
    assert "service de recherche est indisponible" in french.json["error"]["message"]
