"""The curated catalogue, `ckan dataclic sources`, and `ckan harvester run-test` on each
harvester against the fixture server."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from ckanext.dataclic.harvesters.catalogue import THEMES, load_catalogue
from ckanext.dataclic.harvesters.cli import sources

from .conftest import harvest_marks, make_source
from .fixture_server import Reply

pytestmark = harvest_marks

OURS = {"dataclic_udata", "dataclic_ods", "dataclic_hubeau", "dataclic_georisques",
        "dataclic_wfs", "dataclic_datafair"}


def test_catalogue_entries_are_valid_sources():
    from ckan.plugins import get_plugin

    entries = load_catalogue()
    assert 15 <= len(entries) <= 25
    assert len({e.name for e in entries}) == len(entries)
    assert {e.theme for e in entries} >= {"biodiversity", "climate", "energy", "natural-risks",
                                          "industrial-risks", "water", "land-use", "air"}
    for entry in entries:
        assert entry.theme in THEMES and entry.harvester in OURS
        assert urlsplit(entry.url).scheme == "https"
        get_plugin(entry.harvester).validate_config(json.dumps(entry.config))


def test_sources_list_and_add(cli, org):
    from ckan.tests import helpers

    listed = cli.invoke(sources, ["list"])
    assert listed.exit_code == 0, listed.output
    for entry in load_catalogue():
        assert entry.name in listed.output
    water = cli.invoke(sources, ["list", "--theme", "water"])
    assert "hubeau-piezometrie-stations" in water.output and "inpn-znieff" not in water.output

    added = cli.invoke(sources, ["add", "georisques-icpe", "--org", org["name"], "--frequency",
                                 "weekly", "--config", '{"params": {"departement": "53"}}'])
    assert added.exit_code == 0, added.output
    source = helpers.call_action("harvest_source_show", id="georisques-icpe")
    assert source["source_type"] == "dataclic_georisques"
    assert source["frequency"] == "WEEKLY" and source["owner_org"] == org["id"]
    assert json.loads(source["config"])["params"] == {"departement": "53"}

    unknown = cli.invoke(sources, ["add", "no-such-source"])
    assert unknown.exit_code != 0 and "no-such-source" in unknown.output
    refused = cli.invoke(sources, ["add", "hubeau-onde-stations", "--config",
                                   '{"page_sise": 10}'])
    assert refused.exit_code != 0 and "page_sise" in refused.output
    assert "Traceback" not in refused.output


def _serve_all(server) -> dict[str, tuple[str, dict]]:
    """Minimal answers for each harvester; returns source type → (url, config)."""
    dataset = {"id": "d1", "slug": "d1", "title": "D1", "resources": []}
    server.routes["/api/1/datasets/d1/"] = Reply.json(dataset)
    server.routes["/api/explore/v2.1/catalog/datasets/o1"] = Reply.json(
        {"dataset_id": "o1", "metas": {"default": {"title": "O1"}}, "fields": []})
    server.routes["/api/v1/stations"] = Reply.json(
        {"count": 1, "next": None, "data": [{"code_commune": "33063"}]})
    server.routes["/wfs"] = lambda q: (
        Reply(200, b'<wfs:WFS_Capabilities xmlns:wfs="http://www.opengis.net/wfs/2.0">'
              b"<wfs:FeatureTypeList><wfs:FeatureType><wfs:Name>a:b</wfs:Name>"
              b"</wfs:FeatureType></wfs:FeatureTypeList></wfs:WFS_Capabilities>")
        if q["request"][0] == "GetCapabilities"
        else Reply.json({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": None, "properties": {"code": "33063"}}]}))
    server.routes["/data-fair/api/v1/datasets/f1"] = Reply.json({"id": "f1", "title": "F1"})
    return {
        "dataclic_udata": (server.url, {"datasets": ["d1"]}),
        "dataclic_ods": (server.url, {"datasets": ["o1"]}),
        "dataclic_hubeau": (server.url + "/api", {"endpoints": ["v1/stations"]}),
        "dataclic_georisques": (server.url + "/api",
                                {"endpoints": ["v1/stations"], "page_size": 5}),
        "dataclic_wfs": (server.url + "/wfs", {"layers": ["a:b"]}),
        "dataclic_datafair": (server.url + "/data-fair", {"datasets": ["f1"]}),
    }


def test_run_test_works_for_every_harvester(cli, app, server, org):
    import click
    from ckan.tests import helpers
    from ckanext.harvest.cli import harvester

    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        # What `ckan` itself puts in the context before running a plugin command.
        ctx.meta["flask_app"] = app.flask_app

    root.add_command(harvester)

    for kind, (url, config) in _serve_all(server).items():
        name = kind.replace("_", "-")
        source = make_source(url, kind, config, org, name=name)
        for _ in range(2):  # a second run must work too ("not modified")
            result = cli.invoke(root, ["harvester", "run-test", name])
            assert result.exit_code == 0, (kind, result.output)
        jobs = helpers.call_action("harvest_job_list", source_id=source["id"])
        assert len(jobs) == 2 and all(job["status"] == "Finished" for job in jobs), (kind, jobs)
        assert sorted(job["stats"].get("errored", 0) for job in jobs) == [0, 0], (kind, jobs)
        assert sum(job["stats"].get("added", 0) for job in jobs) == 1, (kind, jobs)
        assert sum(job["stats"].get("not modified", 0) for job in jobs) == 1, (kind, jobs)


@pytest.mark.parametrize("name", ["inpn-znieff", "ademe-dpe-logements", "qualite-air"])
def test_catalogue_config_override_keeps_other_keys(name):
    entry = next(e for e in load_catalogue() if e.name == name)
    merged = entry.config_with({"max_retries": 1})
    assert merged["max_retries"] == 1
    assert {k: v for k, v in merged.items() if k != "max_retries"} == entry.config


def test_new_source_page_offers_the_curated_sources(app):
    from ckan.tests import factories

    sysadmin = factories.SysadminWithToken()
    headers = {"Authorization": sysadmin["token"]}
    page = app.get("/harvest/new", headers=headers)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Curated green sources" in body
    entry = next(e for e in load_catalogue() if e.name == "hubeau-piezometrie-stations")
    assert entry.title in body
    prefilled = app.get("/harvest/new", headers=headers, query_string={
        "url": entry.url, "source_type": entry.harvester, "name": entry.name,
        "config": json.dumps(entry.config)})
    text = prefilled.get_data(as_text=True)
    assert 'value="https://hubeau.eaufrance.fr/api"' in text
    assert "v1/niveaux_nappes/stations" in text
