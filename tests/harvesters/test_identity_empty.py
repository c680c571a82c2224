"""A dataset's identity survives an edit of its source; an empty answer never publishes nor
wipes data (issue 14, items 1 and 2). Real gather/fetch/import stages, a real HTTP server."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .conftest import harvest_marks, make_source, run_job, show, statuses
from .fixture_server import Reply

pytestmark = harvest_marks

CAPABILITIES = (
    '<wfs:WFS_Capabilities version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0">'
    "<wfs:FeatureTypeList>{types}</wfs:FeatureTypeList></wfs:WFS_Capabilities>"
)
FEATURE_TYPE = "<wfs:FeatureType><wfs:Name>{name}</wfs:Name><wfs:Title>{title}</wfs:Title>" \
    "</wfs:FeatureType>"


def feature(n: int) -> dict[str, Any]:
    return {"type": "Feature", "id": f"rnn.{n}",
            "geometry": {"type": "Point", "coordinates": [-0.5 + n / 100, 44.8]},
            "properties": {"id_mnhn": f"FR36000{n:02d}", "nom": f"Réserve {n}"}}


def wfs_route(layers: dict[str, list[dict[str, Any]]]):
    def route(query: dict[str, list[str]]) -> Reply:
        if query["request"][0] == "GetCapabilities":
            types = "".join(FEATURE_TYPE.format(name=n, title=n) for n in layers)
            return Reply(200, CAPABILITIES.format(types=types).encode(),
                         {"Content-Type": "text/xml"})
        features = layers[query["typeNames"][0]]
        start, count = int(query["startIndex"][0]), int(query["count"][0])
        return Reply.json({"type": "FeatureCollection", "numberMatched": len(features),
                           "features": features[start:start + count]})

    return route


def stations_route(server, path: str, stations: list[dict[str, Any]]):
    """Hub'Eau-shaped paging, filtering on ``code_departement`` like the real API."""

    def route(query: dict[str, list[str]]) -> Reply:
        page, size = int(query.get("page", ["1"])[0]), int(query["size"][0])
        wanted = query.get("code_departement", [None])[0]
        rows = [s for s in stations if wanted in (None, s["code_departement"])]
        chunk = rows[(page - 1) * size: page * size]
        base = {k: v[0] for k, v in query.items()}
        more = page * size < len(rows)
        return Reply.json({
            "count": len(rows),
            "next": f"{server.url}{path}?{urlencode({**base, 'page': page + 1})}" if more else None,
            "data": chunk,
        })

    server.routes[path] = route


def station(n: int, dep: str) -> dict[str, Any]:
    return {"code_station": f"O{n:07d}", "libelle_station": f"Station {n}",
            "code_departement": dep, "code_commune_station": f"{dep}063"}


def stored_rows(resource: dict[str, Any]) -> tuple[list[str], list[dict[str, str]]]:
    from ckan.lib import uploader

    text = Path(uploader.get_resource_uploader(resource).get_path(resource["id"])).read_text(
        encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    return header, [dict(zip(header, row)) for row in reader]


def update_source(source: dict[str, Any], **changes: Any) -> dict[str, Any]:
    from ckan.tests import helpers

    source = {**source, **changes}
    if isinstance(source.get("config"), dict):
        source["config"] = json.dumps(source["config"])
    return helpers.call_action("harvest_source_update", **source)


def datasets_of(org: dict[str, Any]) -> list[dict[str, Any]]:
    from ckan.tests import helpers

    found = helpers.call_action("package_search", fq=f"owner_org:{org['id']}",
                                include_private=True, rows=100)
    return [d for d in found["results"] if d.get("type") == "dataset"]


# -- 1. identity --------------------------------------------------------------------------
def test_a_respelt_source_url_updates_the_same_datasets(server, org):
    layers = {"patrinat_rnn:rnn": [feature(n) for n in range(3)]}
    for path in ("/wfs/ows", "/wfs", "/wfs/"):
        server.routes[path] = wfs_route(layers)
    source = make_source(server.url + "/wfs/ows?map=rn", "dataclic_wfs",
                         {"layers": ["patrinat_rnn:rnn"]}, org)
    first = run_job(source["id"])
    assert statuses(first) == {"patrinat_rnn:rnn": "added"}
    package_id = first["objects"]["patrinat_rnn:rnn"]["package_id"]
    name = show(package_id)["name"]

    # …/wfs/ows → …/wfs (as https://data.geopf.fr/wfs/ows → https://data.geopf.fr/wfs), then a
    # trailing slash, the scheme in capitals and the query string in another order, with an
    # OGC parameter that selects nothing: the same layer of the same service.
    for url in (server.url + "/wfs?map=rn",
                server.url.replace("http://", "HTTP://") + "/wfs/?SERVICE=WFS&map=rn"):
        source = update_source(source, url=url)
        layers["patrinat_rnn:rnn"].append(feature(len(layers["patrinat_rnn:rnn"])))
        again = run_job(source["id"])
        assert statuses(again) == {"patrinat_rnn:rnn": "updated"}, again
        assert again["objects"]["patrinat_rnn:rnn"]["package_id"] == package_id
    # unchanged features: the dataset is only updated for its service link, now spelt so
    source = update_source(source, url=server.url + "/wfs/?map=rn&service=WFS")
    last = run_job(source["id"])
    assert statuses(last) == {"patrinat_rnn:rnn": "updated"}
    assert last["objects"]["patrinat_rnn:rnn"]["package_id"] == package_id
    assert show(package_id)["resources"][1]["url"] == server.url + "/wfs/?map=rn&service=WFS"
    assert [d["name"] for d in datasets_of(org)] == [name]
    records = {e["key"]: e["value"] for e in show(package_id)["extras"]}["records_count"]
    assert records == "5"


def test_datasets_harvested_before_identity_keys_are_matched_not_duplicated(server, org):
    """A dataset left by the former scheme (package id from the full source URL, no identity
    key on its harvest object) is the one the next harvest updates."""
    from ckan import model
    from ckan.tests import helpers
    from ckanext.harvest.model import HarvestJob, HarvestObject

    from ckanext.dataclic.harvesters.identity import legacy_package_id, package_id_for

    layers = {"patrinat_rnn:rnn": [feature(n) for n in range(2)]}
    server.routes["/wfs/ows"] = wfs_route(layers)
    url = server.url + "/wfs/ows"
    source = make_source(url, "dataclic_wfs", {"layers": ["patrinat_rnn:rnn"]}, org)
    old_id = legacy_package_id("dataclic_wfs", url, f"{url}#patrinat_rnn:rnn")
    helpers.call_action("package_create", id=old_id, name="rnn-harvested-in-2025",
                        title="Réserves naturelles nationales", owner_org=org["id"])
    job = HarvestJob(source_id=source["id"], status="Finished")
    job.save()
    HarvestObject(guid="patrinat_rnn:rnn", job=job, harvest_source_id=source["id"],
                  package_id=old_id,
                  current=True, state="COMPLETE", report_status="added").save()
    model.Session.remove()
    assert old_id != package_id_for(f"dataclic_wfs|127.0.0.1:{server.httpd.server_address[1]}"
                                    "|patrinat_rnn:rnn")

    report = run_job(source["id"])
    assert statuses(report) == {"patrinat_rnn:rnn": "updated"}, report
    assert report["objects"]["patrinat_rnn:rnn"]["package_id"] == old_id
    assert [d["id"] for d in datasets_of(org)] == [old_id]
    assert show(old_id)["name"] == "rnn-harvested-in-2025"
    assert statuses(run_job(source["id"])) == {"patrinat_rnn:rnn": "not modified"}


def test_same_endpoint_other_parameters_are_other_datasets_same_ones_are_refused(server, org):
    path = "/api/v2/hydrometrie/referentiel/stations"
    stations_route(server, path, [station(n, "33") for n in range(4)]
                   + [station(n, "40") for n in range(4, 7)])
    endpoint = "v2/hydrometrie/referentiel/stations"
    gironde = make_source(server.url + "/api", "dataclic_hubeau",
                          {"endpoints": [endpoint], "params": {"code_departement": "33"}},
                          org, name="gironde")
    landes = make_source(server.url + "/api/", "dataclic_hubeau",
                         {"endpoints": [endpoint], "params": {"code_departement": "40"}},
                         org, name="landes")
    first, second = run_job(gironde["id"]), run_job(landes["id"])
    assert statuses(first) == {endpoint: "added"} and statuses(second) == {endpoint: "added"}
    d33 = show(first["objects"][endpoint]["package_id"])
    d40 = show(second["objects"][endpoint]["package_id"])
    assert d33["id"] != d40["id"] and d33["name"] != d40["name"]
    assert d33["title"].endswith("— département 33") and "département 33" in d33["notes"]
    assert d40["title"].endswith("— département 40")
    assert [r["code_departement"] for r in stored_rows(d33["resources"][0])[1]] == ["33"] * 4
    assert [r["code_departement"] for r in stored_rows(d40["resources"][0])[1]] == ["40"] * 3

    # The same selection, with a parameter that only shapes the answer: refused.
    again = make_source(server.url + "/api", "dataclic_hubeau",
                        {"endpoints": [endpoint],
                         "params": {"fields": "code_station,code_departement",
                                    "code_departement": "33"}},
                        org, name="gironde-again")
    refused = run_job(again["id"])
    assert statuses(refused) == {endpoint: "errored"}
    assert "already harvested by source 'gironde'" in refused["objects"][endpoint]["errors"][0]
    assert len(datasets_of(org)) == 2


def test_a_changed_selection_replaces_the_old_dataset(server, org):
    path = "/api/v2/hydrometrie/referentiel/stations"
    stations_route(server, path, [station(1, "33"), station(2, "40")])
    endpoint = "v2/hydrometrie/referentiel/stations"
    source = make_source(server.url + "/api", "dataclic_hubeau",
                         {"endpoints": [endpoint], "params": {"code_departement": "33"}}, org)
    old = run_job(source["id"])["objects"][endpoint]["package_id"]
    source = update_source(source, config={"endpoints": [endpoint],
                                           "params": {"code_departement": "40"}})
    new = run_job(source["id"])["objects"][endpoint]["package_id"]
    assert new != old
    assert show(old)["state"] == "deleted"
    assert [d["id"] for d in datasets_of(org)] == [new]


# -- 2. empty answers ---------------------------------------------------------------------
def test_an_empty_answer_creates_nothing_then_keeps_the_data_unless_allowed(server, org):
    from ckanext.harvest.model import HarvestJob

    path = "/api/v1/niveaux_nappes/stations"
    endpoint = "v1/niveaux_nappes/stations"
    stations_route(server, path, [])
    config = {"endpoints": [endpoint]}
    source = make_source(server.url + "/api", "dataclic_hubeau", config, org)

    empty = run_job(source["id"])
    obj = empty["objects"][endpoint]
    assert empty["status"] == "Finished" and obj["status"] == "not modified"
    assert obj["package_id"] is None and datasets_of(org) == []
    assert "the source returned no record for" in obj["errors"][0]

    stations_route(server, path, [station(n, "33") for n in range(3)])
    full = run_job(source["id"])
    assert statuses(full) == {endpoint: "added"}
    dataset = show(full["objects"][endpoint]["package_id"])
    header, rows = stored_rows(dataset["resources"][0])
    assert len(rows) == 3

    stations_route(server, path, [])
    kept = run_job(source["id"])
    assert statuses(kept) == {endpoint: "not modified"}
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    warning = f"0 records returned, 3 kept from {today}"
    assert warning in kept["objects"][endpoint]["errors"][0]
    assert any(warning in message for message in kept["gather_errors"])
    assert HarvestJob.get(kept["job_id"]).status == "Finished"
    still = show(dataset["id"])
    assert still["state"] == "active" and len(stored_rows(still["resources"][0])[1]) == 3
    # the next harvest that returns data updates the same dataset
    assert statuses(run_job(source["id"])) == {endpoint: "not modified"}

    source = update_source(source, config={**config, "allow_empty": True})
    allowed = run_job(source["id"])
    assert statuses(allowed) == {endpoint: "updated"}
    emptied = show(dataset["id"])
    # the CSV keeps its header row (the columns the file had) with 0 rows
    assert stored_rows(emptied["resources"][0]) == (header, [])
    assert {e["key"]: e["value"] for e in emptied["extras"]}["records_count"] == "0"


def test_an_empty_wfs_layer_is_not_published(server, org):
    layers = {"patrinat_rnn:rnn": [], "patrinat_rnr:rnr": [feature(1)]}
    server.routes["/wfs/ows"] = wfs_route(layers)
    source = make_source(server.url + "/wfs/ows", "dataclic_wfs",
                         {"layer_prefix": "patrinat_"}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"patrinat_rnn:rnn": "not modified",
                                "patrinat_rnr:rnr": "added"}
    assert "the source returned no record for" in \
        report["objects"]["patrinat_rnn:rnn"]["errors"][0]
    assert len(datasets_of(org)) == 1


def test_a_data_fair_lines_file_of_no_line_has_its_header(server, org):
    schema = [{"key": "numero_dpe", "type": "string"}, {"key": "code_insee_ban",
                                                        "type": "string"}, {"key": "_id"}]
    server.routes["/data-fair/api/v1/datasets/dpe"] = Reply.json(
        {"id": "dpe", "title": "DPE", "schema": schema, "count": 0})
    server.routes["/data-fair/api/v1/datasets/dpe/lines"] = Reply.json(
        {"total": 0, "results": []})
    source = make_source(server.url + "/data-fair", "dataclic_datafair",
                         {"datasets": ["dpe"], "download": "lines", "allow_empty": True}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"dpe": "added"}
    dataset = show(report["objects"]["dpe"]["package_id"])
    assert stored_rows(dataset["resources"][0]) == (["numero_dpe", "code_insee_ban"], [])


def test_an_allowed_empty_first_answer_has_the_header_its_fields_ask_for(server, org):
    path = "/api/v1/niveaux_nappes/stations"
    stations_route(server, path, [])
    source = make_source(server.url + "/api", "dataclic_hubeau",
                         {"endpoints": ["v1/niveaux_nappes/stations"], "allow_empty": True,
                          "params": {"fields": "code_bss, libelle_station,code_departement"}},
                         org)
    report = run_job(source["id"])
    obj = report["objects"]["v1/niveaux_nappes/stations"]
    assert obj["status"] == "added"
    assert stored_rows(show(obj["package_id"])["resources"][0]) == (
        ["code_bss", "libelle_station", "code_departement"], [])
