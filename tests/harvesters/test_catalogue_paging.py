"""Curated WFS layers, paged-harvester config on save, HTML abstracts, Hub'Eau's 20,000-record
window and a WFS server ignoring startIndex (issue 14, item 5)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from ckanext.dataclic.harvesters.catalogue import find_source

from .conftest import harvest_marks, make_source, run_job, show, statuses
from .fixture_server import Reply

pytestmark = harvest_marks

CAPABILITIES = (
    '<wfs:WFS_Capabilities version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0">'
    "<wfs:FeatureTypeList>{types}</wfs:FeatureTypeList></wfs:WFS_Capabilities>"
)
FEATURE_TYPE = ("<wfs:FeatureType><wfs:Name>{name}</wfs:Name><wfs:Title>{name}</wfs:Title>"
                "<wfs:Abstract>{abstract}</wfs:Abstract></wfs:FeatureType>")


def feature(n: int) -> dict[str, Any]:
    return {"type": "Feature", "id": f"f.{n}", "geometry": None,
            "properties": {"id_mnhn": f"FR{n:05d}"}}


def wfs_route(layers: dict[str, list[dict[str, Any]]], abstract: str = "",
              ignore_start: bool = False):
    def route(query: dict[str, list[str]]) -> Reply:
        if query["request"][0] == "GetCapabilities":
            types = "".join(FEATURE_TYPE.format(name=n, abstract=abstract) for n in layers)
            return Reply(200, CAPABILITIES.format(types=types).encode(),
                         {"Content-Type": "text/xml"})
        features = layers[query["typeNames"][0]]
        start = 0 if ignore_start else int(query["startIndex"][0])
        count = int(query["count"][0])
        return Reply.json({"type": "FeatureCollection", "features": features[start:start + count]})

    return route


def catalogue_source(server, org, name: str, path: str = "/wfs/ows") -> dict[str, Any]:
    entry = find_source(name)
    return make_source(server.url + path, entry.harvester, {**entry.config, "max_retries": 0},
                       org, name=name)


@pytest.mark.parametrize("scheme", ["PROTECTEDAREAS", "patrinat"])
def test_the_nature_reserves_entry_harvests_nature_reserves_only(server, org, scheme):
    if scheme == "PROTECTEDAREAS":
        names = ["PROTECTEDAREAS.RNN:rnn", "PROTECTEDAREAS.RNR:rnr", "PROTECTEDAREAS.RNC:rnc",
                 "PROTECTEDAREAS.RNCFS:rncfs", "PROTECTEDAREAS.RNCF:rncf",
                 "PROTECTEDAREAS.ZNIEFF1:znieff1"]
        reserves = {"PROTECTEDAREAS.RNN:rnn", "PROTECTEDAREAS.RNR:rnr",
                    "PROTECTEDAREAS.RNC:rnc"}
    else:  # the current names; the old ones are gone from this service
        names = ["patrinat_rnn:rnn", "patrinat_rncfs:rncfs", "patrinat_znieff1:znieff1",
                 "patrinat_pnr:pnr"]
        reserves = {"patrinat_rnn:rnn"}
    server.routes["/wfs/ows"] = wfs_route({n: [feature(1)] for n in names})
    source = catalogue_source(server, org, "inpn-reserves-naturelles")
    report = run_job(source["id"])
    assert report["gather_errors"] == []
    assert statuses(report) == {name: "added" for name in reserves}


def test_both_naming_schemes_offered_are_not_harvested_twice(server, org):
    names = ["PROTECTEDAREAS.ZNIEFF1:znieff1", "PROTECTEDAREAS.ZNIEFF2:znieff2",
             "patrinat_znieff1:znieff1", "patrinat_znieff2:znieff2"]
    server.routes["/wfs/ows"] = wfs_route({n: [feature(1)] for n in names})
    report = run_job(catalogue_source(server, org, "inpn-znieff")["id"])
    assert statuses(report) == {n: "added" for n in names[:2]}


def test_curated_wfs_layers_are_checked_at_gather_time(server, org):
    server.routes["/wfs/ows"] = wfs_route({"other:roads": [feature(1)],
                                           "PROTECTEDAREAS.RNCFS:rncfs": [feature(2)]})
    report = run_job(catalogue_source(server, org, "inpn-reserves-naturelles")["id"])
    assert report["objects"] == {}
    (error,) = report["gather_errors"]
    assert "no layer of the service starts with 'PROTECTEDAREAS.RN' or 'patrinat_rn'" in error
    assert "excluding PROTECTEDAREAS.RNCF" in error


@pytest.mark.parametrize("kind", ["dataclic_hubeau", "dataclic_georisques"])
@pytest.mark.parametrize("config", ["{}", '{"params": {"code_departement": "33"}}'])
def test_paged_harvesters_refuse_a_config_without_endpoints_on_save(org, kind, config):
    from ckan.plugins import toolkit
    from ckan.tests import helpers

    with pytest.raises(toolkit.ValidationError) as err:
        make_source("https://hubeau.eaufrance.fr/api", kind, config, org)
    assert "'endpoints' is required" in json.dumps(err.value.error_dict, ensure_ascii=False)
    assert helpers.call_action("harvest_source_list") == []


def test_html_in_remote_abstracts_becomes_plain_text(server, org):
    abstract = ("Réserves naturelles nationales&lt;br/&gt;Source&amp;nbsp;: INPN&lt;/br&gt;"
                "Mise à jour &amp;eacute;t&amp;eacute; 2025")  # escaped once for the XML
    server.routes["/wfs/ows"] = wfs_route({"patrinat_rnn:rnn": [feature(1)]}, abstract)
    source = make_source(server.url + "/wfs/ows", "dataclic_wfs",
                         {"layers": ["patrinat_rnn:rnn"]}, org)
    report = run_job(source["id"])
    notes = show(report["objects"]["patrinat_rnn:rnn"]["package_id"])["notes"]
    assert notes == ("Réserves naturelles nationales  \nSource : INPN  \n"
                     "Mise à jour été 2025")


def test_a_wfs_server_ignoring_start_index_is_a_paging_loop(server, org):
    layer = "patrinat_rnn:rnn"
    server.routes["/wfs/ows"] = wfs_route({layer: [feature(n) for n in range(10)]},
                                          ignore_start=True)
    source = make_source(server.url + "/wfs/ows", "dataclic_wfs",
                         {"layers": [layer], "page_size": 3}, org)
    report = run_job(source["id"])
    assert statuses(report) == {layer: "errored"}
    assert "the server ignores startIndex" in report["objects"][layer]["errors"][0]
    assert len([r for r in server.requests if "GetFeature" in r]) == 2  # not 500


def test_hubeau_answers_over_20000_records_are_split_by_departement(server, org):
    """Hub'Eau refuses a page beyond page × size = 20,000: the harvest reads such an
    answer département by département instead of failing at page 5."""
    path = "/api/v1/niveaux_nappes/stations"
    counts = {"33": 9_000, "40": 7_000, "2A": 4_100}
    stations = [{"code_bss": f"{dep}-{n}", "code_departement": dep}
                for dep, count in counts.items() for n in range(count)]
    stations += [{"code_bss": "sans-departement", "code_departement": None}]

    def route(query: dict[str, list[str]]) -> Reply:
        page, size = int(query.get("page", ["1"])[0]), int(query["size"][0])
        if page * size > 20_000:
            return Reply.json({"code": 400, "message": "Le nombre de résultats demandés "
                               "dépasse la limite de 20000"}, 400)
        wanted = query.get("code_departement", [None])[0]
        rows = [s for s in stations if wanted in (None, s["code_departement"])]
        base = {k: v[0] for k, v in query.items()}
        more = page * size < len(rows)
        return Reply.json({
            "count": len(rows), "data": rows[(page - 1) * size: page * size],
            "next": f"{server.url}{path}?{urlencode({**base, 'page': page + 1})}"
            if more else None})

    server.routes[path] = route
    source = make_source(server.url + "/api", "dataclic_hubeau",
                         {"endpoints": ["v1/niveaux_nappes/stations"], "page_size": 5000,
                          "max_retries": 0}, org)
    report = run_job(source["id"])
    obj = report["objects"]["v1/niveaux_nappes/stations"]
    assert obj["status"] == "added", obj["errors"]
    dataset = show(obj["package_id"])
    from ckan.lib import uploader

    resource = dataset["resources"][0]
    text = Path(uploader.get_resource_uploader(resource).get_path(resource["id"])).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["code_bss"] for r in rows) == sorted(
        s["code_bss"] for s in stations if s["code_departement"])
    assert "the API counts 20101 records" in dataset["notes"]
    assert "Not included: 1 record(s) without a département." in dataset["notes"]
    assert not any("page=5" in r and "code_departement" not in r for r in server.requests)
