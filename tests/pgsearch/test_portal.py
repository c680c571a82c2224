"""Permissions, web pages, bad input and the CLI, with the stand-in behind CKAN."""
from __future__ import annotations

import ckan.plugins as p
import pytest
import sqlalchemy as sa
from ckan import model
from ckan.cli.cli import ckan
from ckan.lib import search
from ckan.logic import get_action
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dataclic.pgsearch import connection
from ckanext.dataclic.pgsearch.store import TABLE

pytestmark = [
    pytest.mark.usefixtures("clean_db", "clean_index"),
    pytest.mark.ckan_config("ckan.auth.create_unowned_dataset", True),
]


@pytest.fixture
def private_setup():
    member = factories.UserWithToken()
    outsider = factories.UserWithToken()
    org = factories.Organization(
        name="sdis", users=[{"name": member["name"], "capacity": "member"}]
    )
    factories.Dataset(
        name="plan-secret", title="Plan secret des casernes", owner_org=org["id"],
        private=True, tags=[{"name": "confidentiel"}],
    )
    factories.Dataset(
        name="casernes", title="Casernes publiques", owner_org=org["id"],
        tags=[{"name": "ouvert"}],
    )
    return {"member": member, "outsider": outsider, "org": org}


def _search_as(user: str, **params):
    context = {"user": user, "ignore_auth": False}
    return get_action("package_search")(context, {"include_private": True, **params})


def test_private_dataset_hidden_from_results_facets_and_counts(private_setup):
    member, outsider = private_setup["member"], private_setup["outsider"]
    params = {"q": "casernes", "facet.field": ["tags", "organization"]}
    for user in ("", outsider["name"]):
        result = _search_as(user, **params)
        assert result["count"] == 1
        assert [d["name"] for d in result["results"]] == ["casernes"]
        tags = {i["name"]: i["count"] for i in result["search_facets"]["tags"]["items"]}
        assert tags == {"ouvert": 1}
        orgs = result["search_facets"]["organization"]["items"]
        assert [(i["name"], i["count"]) for i in orgs] == [("sdis", 1)]
    result = _search_as(member["name"], **params)
    assert result["count"] == 2
    tags = {i["name"] for i in result["search_facets"]["tags"]["items"]}
    assert tags == {"ouvert", "confidentiel"}
    # A hostile filter cannot widen the permission filter CKAN appends.
    widened = _search_as("", fq="permission_labels:* OR capacity:private")
    assert [d["name"] for d in widened["results"]] == ["casernes"]


def test_private_dataset_hidden_on_dataset_page(app, private_setup):
    anonymous = app.get("/dataset/?q=casernes")
    assert anonymous.status_code == 200
    assert "/dataset/casernes" in anonymous.body
    assert "plan-secret" not in anonymous.body
    outsider = app.get(
        "/dataset/?q=casernes", headers={"Authorization": private_setup["outsider"]["token"]}
    )
    assert "plan-secret" not in outsider.body
    member = app.get(
        "/dataset/?q=casernes", headers={"Authorization": private_setup["member"]["token"]}
    )
    assert member.status_code == 200
    assert "/dataset/plan-secret" in member.body
    org_page = app.get("/organization/sdis")
    assert "plan-secret" not in org_page.body and "/dataset/casernes" in org_page.body


def test_portal_pages_render(app):
    org = factories.Organization(name="ofb", title="Office français de la biodiversité")
    group = factories.Group(name="nature", title="Nature")
    factories.Dataset(
        name="haies", title="Linéaire de haies bocagères", owner_org=org["id"],
        groups=[{"name": group["name"]}], tags=[{"name": "bocage"}],
        resources=[{"url": "http://127.0.0.1/haies.gpkg", "format": "GPKG"}],
    )
    pages = {
        "/": None,
        "/dataset/": "haies",
        "/dataset/?q=bocageres&sort=score+desc": None,
        "/dataset/?q=haie&tags=bocage&res_format=GPKG&organization=ofb": "/dataset/haies",
        "/organization/": "ofb",
        "/organization/ofb": "/dataset/haies",
        "/group/": "nature",
        "/group/nature": "/dataset/haies",
        "/dataset/haies": "Linéaire de haies bocagères",
    }
    for url, expected in pages.items():
        response = app.get(url)
        assert response.status_code == 200, url
        if expected:
            assert expected in response.body, url


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"q": "(eau"}, 409),
        ({"q": 'title:"eau'}, 409),
        ({"q": "eau\\"}, 409),
        ({"q": "eau)) OR ((1=1"}, 409),
        ({"fq": "metadata_modified:[2020 TO"}, 409),
        ({"fq": "metadata_modified:[hier TO *]"}, 409),
        ({"q": "'; DROP TABLE package; --"}, 409),
        ({"q": "--included"}, 409),
        ({"sort": "name sideways"}, 400),
        ({"sort": "name asc; DROP TABLE package"}, 400),
        ({"facet.field": '["tags; DROP TABLE package"]'}, 409),
    ],
)
def test_malformed_search_gets_a_search_error_not_a_500(app, params, status):
    factories.Dataset(name="survivor", title="Survivor")
    response = app.get("/api/3/action/package_search", query_string=params, status=status)
    body = response.json
    assert body["success"] is False
    assert body["error"]["message"]
    with model.meta.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('package')")).scalar() is not None
        assert conn.execute(sa.text("SELECT count(*) FROM package")).scalar() == 1
    assert helpers.call_action("package_search", q="survivor")["count"] == 1


def test_injection_inside_quotes_is_plain_text(app):
    factories.Dataset(name="survivor", title="Survivor")
    hostile = "'; DROP TABLE package; --"
    response = app.get(
        "/api/3/action/package_search",
        query_string={"q": f'title:"{hostile}" OR tags:"{hostile}"'},
    )
    assert response.json["result"]["count"] == 0
    assert helpers.call_action("package_search")["count"] == 1


def test_malformed_search_on_dataset_page_shows_an_error(app):
    response = app.get("/dataset/?q=(eau")
    assert response.status_code == 200
    assert "error while searching" in response.body


def test_search_index_commands(cli):
    factories.Dataset(name="one", title="Un")
    factories.Dataset(name="two", title="Deux")
    assert helpers.call_action("package_search")["count"] == 2

    result = cli.invoke(ckan, ["search-index", "clear"])
    assert not result.exit_code, result.output
    assert helpers.call_action("package_search")["count"] == 0

    result = cli.invoke(ckan, ["search-index", "check"])
    assert not result.exit_code, result.output
    assert "Packages not indexed = 2 out of 2" in result.output

    result = cli.invoke(ckan, ["search-index", "rebuild"])
    assert not result.exit_code, result.output
    assert helpers.call_action("package_search")["count"] == 2
    result = cli.invoke(ckan, ["search-index", "check"])
    assert "Packages not indexed = 0 out of 2" in result.output
    assert search.show("one")["name"] == "one"


def test_start_up_check_creates_the_table():
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
    assert search.check_solr_schema_version() is True
    with model.meta.engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT to_regclass('{TABLE}')")).scalar() is not None


@pytest.mark.ckan_config("ckan.plugins", "dataclic_pgsearch")
@pytest.mark.usefixtures("with_plugins")
def test_plugin_installs_the_stand_in_and_declares_its_option():
    assert p.plugin_loaded("dataclic_pgsearch")
    assert connection.is_installed()
    assert tk.config.get(connection.URL_OPTION) == ""
    assert isinstance(search.common.make_connection(), connection.PgSearchConnection)
