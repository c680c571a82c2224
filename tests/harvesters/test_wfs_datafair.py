"""dataclic_wfs and dataclic_datafair against a real HTTP server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import harvest_marks, make_source, run_job, show, statuses
from .fixture_server import SHARED_DATA, Reply

pytestmark = harvest_marks

PNR = SHARED_DATA / "green" / "inpn_pnr_normandie-maine_2021_wgs84.geojson"

CAPABILITIES = """<?xml version="1.0" encoding="UTF-8"?>
<wfs:WFS_Capabilities version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0"
  xmlns:ows="http://www.opengis.net/ows/1.1">
  <wfs:FeatureTypeList>
    {types}
  </wfs:FeatureTypeList>
</wfs:WFS_Capabilities>"""

FEATURE_TYPE = """<wfs:FeatureType>
  <wfs:Name>{name}</wfs:Name><wfs:Title>{title}</wfs:Title>
  <wfs:Abstract>Couche INPN {title}</wfs:Abstract>
  <ows:Keywords><ows:Keyword>biodiversite</ows:Keyword><ows:Keyword>inpn</ows:Keyword></ows:Keywords>
  <wfs:DefaultCRS>urn:ogc:def:crs:EPSG::2154</wfs:DefaultCRS>
  <ows:WGS84BoundingBox><ows:LowerCorner>-5.2 41.3</ows:LowerCorner>
  <ows:UpperCorner>9.6 51.1</ows:UpperCorner></ows:WGS84BoundingBox>
</wfs:FeatureType>"""


def capabilities(*layers: tuple[str, str]) -> Reply:
    types = "".join(FEATURE_TYPE.format(name=n, title=t) for n, t in layers)
    return Reply(200, CAPABILITIES.format(types=types).encode(), {"Content-Type": "text/xml"})


def point(n: int) -> dict[str, Any]:
    return {"type": "Feature", "id": f"znieff.{n}",
            "geometry": {"type": "Point", "coordinates": [-0.5 + n / 100, 44.8]},
            "properties": {"id_mnhn": f"72000{n:04d}", "nom": f"Site {n}", "insee_com": "33063"}}


def wfs_route(server, layers: dict[str, list[dict[str, Any]]], caps: Reply):
    def route(query: dict[str, list[str]]) -> Reply:
        request = query["request"][0]
        if request == "GetCapabilities":
            return caps
        features = layers[query["typeNames"][0]]
        start, count = int(query["startIndex"][0]), int(query["count"][0])
        chunk = features[start:start + count]
        return Reply.json({"type": "FeatureCollection", "numberMatched": len(features),
                           "numberReturned": len(chunk), "features": chunk})

    server.routes["/wfs/ows"] = route


def stored(resource: dict[str, Any]) -> Path:
    from ckan.lib import uploader

    return Path(uploader.get_resource_uploader(resource).get_path(resource["id"]))


def test_wfs_layers_paged_into_geojson_with_crs(server, org):
    if not PNR.exists():
        pytest.skip("../shared/data is absent: the INPN park polygon is there")
    pnr = json.loads(PNR.read_text())["features"]
    znieff = [point(n) for n in range(5)]
    layers = {"patrinat_znieff1:znieff1": znieff, "patrinat_pnr:pnr": pnr,
              "other:roads": [point(99)]}
    caps = capabilities(("patrinat_znieff1:znieff1", "ZNIEFF de type I"),
                        ("patrinat_pnr:pnr", "Parcs naturels régionaux"),
                        ("other:roads", "Routes"))
    wfs_route(server, layers, caps)
    config = {"layer_prefix": "patrinat_", "page_size": 2, "producer": "PatriNat (OFB, MNHN)"}
    source = make_source(server.url + "/wfs/ows", "dataclic_wfs", config, org)

    report = run_job(source["id"])
    assert statuses(report) == {"patrinat_znieff1:znieff1": "added", "patrinat_pnr:pnr": "added"}
    assert len([r for r in server.requests if "znieff1" in r and "GetFeature" in r]) == 3

    dataset = show(report["objects"]["patrinat_znieff1:znieff1"]["package_id"])
    assert dataset["title"] == "ZNIEFF de type I"
    extras = {e["key"]: e["value"] for e in dataset["extras"]}
    assert extras["source_crs"] == "EPSG:2154" and extras["records_count"] == "5"
    geojson, service = dataset["resources"]
    assert service["format"] == "WFS" and service["url"].endswith("/wfs/ows")
    collection = json.loads(stored(geojson).read_text())
    assert [f["id"] for f in collection["features"]] == [f["id"] for f in znieff]
    profile = json.loads(geojson["dataclic_profile"])
    assert profile["geometry"] == "native" and profile["crs"] == "EPSG:4326"
    assert profile["code_column"] == "insee_com"

    park = show(report["objects"]["patrinat_pnr:pnr"]["package_id"])
    park_collection = json.loads(stored(park["resources"][0]).read_text())
    assert park_collection["features"][0]["properties"]["id_mnhn"] == "FR8000026"

    assert sorted(statuses(run_job(source["id"])).values()) == ["not modified"] * 2

    layers["patrinat_znieff1:znieff1"] = znieff[:4]
    caps_without_pnr = capabilities(("patrinat_znieff1:znieff1", "ZNIEFF de type I"))
    wfs_route(server, layers, caps_without_pnr)
    third = run_job(source["id"])
    assert statuses(third) == {"patrinat_znieff1:znieff1": "updated",
                               "patrinat_pnr:pnr": "deleted"}


def test_wfs_exception_report_is_a_gather_error_and_bad_features_an_object_error(server, org):
    server.routes["/wfs/ows"] = Reply(
        200, b'<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Exception>'
        b"<ows:ExceptionText>Service unavailable</ows:ExceptionText></ows:Exception>"
        b"</ows:ExceptionReport>", {"Content-Type": "text/xml"})
    source = make_source(server.url + "/wfs/ows", "dataclic_wfs", {"layers": ["a:b"]}, org)
    report = run_job(source["id"])
    assert report["status"] == "Finished"
    assert "Service unavailable" in report["gather_errors"][0]

    caps = capabilities(("a:b", "Layer B"), ("a:c", "Layer C"))

    def route(query: dict[str, list[str]]) -> Reply:
        if query["request"][0] == "GetCapabilities":
            return caps
        if query["typeNames"][0] == "a:c":
            return Reply(200, b"<html>not json</html>", {"Content-Type": "text/html"})
        return Reply.json({"type": "FeatureCollection", "features": [point(1)]})

    server.routes["/wfs/ows"] = route
    source2 = make_source(server.url + "/wfs/ows?map=x", "dataclic_wfs", {"layers": ["a:b", "a:c"]},
                          org, name="second")
    second = run_job(source2["id"])
    assert statuses(second) == {"a:b": "added", "a:c": "errored"}
    assert "not valid JSON" in second["objects"]["a:c"]["errors"][0]


DPE_SCHEMA = [
    {"key": "numero_dpe", "type": "string", "title": "N° DPE"},
    {"key": "code_insee_ban", "type": "string", "title": "Code INSEE (BAN)",
     "x-refersTo": "http://rdf.insee.fr/def/geo#codeCommune"},
    {"key": "etiquette_dpe", "type": "string", "title": "Etiquette DPE"},
    {"key": "_geopoint", "type": "string", "x-refersTo": "http://www.w3.org/2003/01/geo/wgs84_pos#lat_long"},
]


def datafair_dataset(ident: str, updated: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"id": ident, "slug": ident, "title": f"DPE Logements ({ident})",
            "description": "Diagnostics de performance énergétique",
            "license": {"title": "Licence Ouverte / Open Licence", "href": "https://x"},
            "keywords": ["dpe", "énergie"], "topics": [{"title": "Énergie"}],
            "dataUpdatedAt": updated, "count": 5, "schema": DPE_SCHEMA,
            "file": {"name": f"{ident}.csv", "size": 1234, "mimetype": "text/csv"},
            "page": f"https://data.ademe.fr/datasets/{ident}"}


def test_datafair_file_and_lines_modes(server, org):
    docs = [datafair_dataset("dpe-v2-logements-existants"), datafair_dataset("dpe-tertiaire")]
    server.routes["/data-fair/api/v1/datasets"] = lambda q: Reply.json(
        {"count": len(docs), "results": docs[(int(q["page"][0]) - 1):int(q["page"][0])]})
    source = make_source(server.url + "/data-fair/api/v1", "dataclic_datafair",
                         {"q": "dpe", "page_size": 1}, org)
    report = run_job(source["id"])
    assert sorted(statuses(report).values()) == ["added"] * 2
    dataset = show(report["objects"]["dpe-tertiaire"]["package_id"])
    assert dataset["license_id"] == "etalab-2.0"
    raw, api = dataset["resources"]
    assert raw["url"].endswith("/datasets/dpe-tertiaire/raw") and api["url"].endswith("/lines")
    profile = json.loads(raw["dataclic_profile"])
    assert profile["code_column"] == "code_insee_ban"
    assert statuses(run_job(source["id"])) == {d["id"]: "not modified" for d in docs}

    lines = [{"numero_dpe": f"D{n}", "code_insee_ban": "33063", "etiquette_dpe": "C"}
             for n in range(5)]

    def lines_route(query: dict[str, list[str]]) -> Reply:
        after = int(query.get("after", ["0"])[0])
        size = int(query["size"][0])
        more = after + size < len(lines)
        following = (f"{server.url}/data-fair/api/v1/datasets/dpe-v2/lines"
                     f"?size={size}&after={after + size}")
        return Reply.json({"total": len(lines), "results": lines[after:after + size],
                           "next": following if more else None})

    server.routes["/data-fair/api/v1/datasets/dpe-v2"] = Reply.json(datafair_dataset("dpe-v2"))
    server.routes["/data-fair/api/v1/datasets/dpe-v2/lines"] = lines_route
    server.routes["/data-fair/api/v1/datasets/gone"] = Reply.json({"error": "not found"}, 404)
    source2 = make_source(server.url + "/data-fair", "dataclic_datafair",
                          {"datasets": ["dpe-v2", "gone"], "download": "lines", "page_size": 2,
                           "max_retries": 0}, org, name="lines")
    second = run_job(source2["id"])
    assert statuses(second) == {"dpe-v2": "added", "gone": "errored"}
    assert "404" in second["objects"]["gone"]["errors"][0]
    csv_res = show(second["objects"]["dpe-v2"]["package_id"])["resources"][0]
    text = stored(csv_res).read_text().splitlines()
    assert text[0] == "numero_dpe,code_insee_ban,etiquette_dpe" and len(text) == 6


@pytest.mark.parametrize(("kind", "config", "named"), [
    ("dataclic_wfs", {"layers": ["a"], "layer_prefix": "b"}, "layer_prefix"),
    ("dataclic_wfs", {"srs_name": 4326}, "srs_name"),
    ("dataclic_datafair", {"download": "zip"}, "download"),
    ("dataclic_datafair", {"datasets": ["a"], "q": "dpe"}, "datasets"),
])
def test_bad_source_config_is_refused_on_save(org, kind, config, named):
    from ckan.plugins import toolkit

    with pytest.raises(toolkit.ValidationError) as err:
        make_source("https://data.geopf.fr/wfs/ows", kind, config, org)
    assert named in json.dumps(err.value.error_dict)
