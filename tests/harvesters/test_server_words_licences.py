"""The server's own words reach the admin; licences show as what they are (issue 14, items 3
and 4). Real gather/fetch/import stages, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import harvest_marks, make_source, run_job, show, statuses
from .fixture_server import Reply

pytestmark = harvest_marks

EXCEPTION_REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="2.0.0">
  <ows:Exception exceptionCode="InvalidParameterValue" locator="typeName">
    <ows:ExceptionText>Could not find type: {http://ign.fr}patrinat_rnn:rnx\x07
    </ows:ExceptionText>
  </ows:Exception>
</ows:ExceptionReport>"""

CAPABILITIES = (
    b'<wfs:WFS_Capabilities version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0">'
    b"<wfs:FeatureTypeList><wfs:FeatureType><wfs:Name>patrinat_rnn:rnn</wfs:Name>"
    b"</wfs:FeatureType></wfs:FeatureTypeList></wfs:WFS_Capabilities>"
)


def wfs(get_feature: Reply):
    def route(query: dict[str, list[str]]) -> Reply:
        if query["request"][0] == "GetCapabilities":
            return Reply(200, CAPABILITIES, {"Content-Type": "text/xml"})
        return get_feature

    return route


# -- 3. the server's words ----------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 200])
def test_an_ogc_exception_report_is_reported_with_its_text(server, org, status):
    server.routes["/wfs"] = wfs(Reply(status, EXCEPTION_REPORT, {"Content-Type": "text/xml"}))
    source = make_source(server.url + "/wfs", "dataclic_wfs",
                         {"layers": ["patrinat_rnn:rnn"], "max_retries": 0}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"patrinat_rnn:rnn": "errored"}
    (error,) = report["objects"]["patrinat_rnn:rnn"]["errors"]
    assert f"(HTTP {status}): " in error
    assert "Could not find type: {http://ign.fr}patrinat_rnn:rnx" in error
    assert "\x07" not in error and "\n" not in error
    assert "not valid JSON" not in error
    if status == 200:
        assert "OGC exception" in error


def test_json_error_bodies_are_appended_after_the_status_trimmed_and_cleaned(server, org):
    long_detail = "Paramètre code_departement invalide\x00\x1b[31m : " + "x" * 600
    server.routes["/api/v1/a"] = Reply.json({"detail": long_detail}, 400)
    server.routes["/api/v1/b"] = Reply.json(
        {"error": {"message": "Le service est saturé, réessayez plus tard"}}, 503)
    server.routes["/api/v1/c"] = Reply(404, b"<html><body>Not here</body></html>",
                                       {"Content-Type": "text/html"})
    source = make_source(server.url + "/api", "dataclic_hubeau",
                         {"endpoints": ["v1/a", "v1/b", "v1/c"], "max_retries": 0}, org)
    report = run_job(source["id"])
    assert set(statuses(report).values()) == {"errored"}
    (a,) = report["objects"]["v1/a"]["errors"]
    assert "(HTTP 400): the server answered 400 Bad Request: Paramètre code_departement " \
           "invalide [31m : xxx" in a
    assert "\x00" not in a and "\x1b" not in a
    words = a.split("Bad Request: ", 1)[1]
    assert len(words) <= 300 and words.endswith("…")
    (b,) = report["objects"]["v1/b"]["errors"]
    assert "(HTTP 503)" in b and "Le service est saturé, réessayez plus tard" in b
    (c,) = report["objects"]["v1/c"]["errors"]  # a body that explains nothing adds nothing
    assert c.endswith("the server answered 404 Not Found")


def test_a_refused_redirect_names_the_source_url_and_the_target(server, org):
    server.routes["/wfs"] = Reply(302, b"", {"Location": "http://10.20.30.40/geoserver/wfs"})
    source = make_source(server.url + "/wfs", "dataclic_wfs", {"layers": ["a:b"]}, org)
    report = run_job(source["id"])
    (error,) = report["gather_errors"]
    assert error.startswith(f"{server.url}/wfs?service=WFS")
    assert "(HTTP 302)" in error
    assert "redirected to http://10.20.30.40/geoserver/wfs, which is refused" in error
    assert "non-public address" in error


# -- 4. licences --------------------------------------------------------------------------
def udata(ident: str, licence: str) -> dict[str, Any]:
    return {"id": ident, "slug": ident, "title": ident.upper(), "license": licence,
            "resources": []}


def test_harvested_licences_show_their_title_url_and_openness(server, org):
    for ident, licence in (("lo2", "lov2"), ("lo1", "fr-lo"), ("odbl", "odc-odbl"),
                           ("cc0", "cc-zero")):
        server.routes[f"/api/1/datasets/{ident}/"] = Reply.json(udata(ident, licence))
    server.routes["/api/explore/v2.1/catalog/datasets/conso"] = Reply.json({
        "dataset_id": "conso", "fields": [],
        "metas": {"default": {"title": "Conso", "license": "CC BY 4.0",
                              "license_url": "https://creativecommons.org/licenses/by/4.0/"}}})
    server.routes["/api/explore/v2.1/catalog/datasets/maison"] = Reply.json({
        "dataset_id": "maison", "fields": [],
        "metas": {"default": {"title": "Maison", "license": "Licence de la Ville de Pessac",
                              "license_url": "https://www.pessac.fr/licence-donnees"}}})
    server.routes["/data-fair/api/v1/datasets/dpe"] = Reply.json({
        "id": "dpe", "title": "DPE",
        "license": {"title": "Licence Ouverte / Open Licence",
                    "href": "https://www.etalab.gouv.fr/licence-ouverte-open-licence"}})
    sources = [
        make_source(server.url, "dataclic_udata", {"datasets": ["lo2", "lo1", "odbl", "cc0"]},
                    org, name="udata"),
        make_source(server.url, "dataclic_ods", {"datasets": ["conso", "maison"]}, org,
                    name="ods"),
        make_source(server.url + "/data-fair", "dataclic_datafair", {"datasets": ["dpe"]}, org,
                    name="datafair"),
    ]
    shown = {}
    for source in sources:
        for guid, obj in run_job(source["id"])["objects"].items():
            assert obj["status"] == "added", (guid, obj)
            shown[guid] = show(obj["package_id"])

    def licence(guid: str) -> tuple[str, str | None, bool]:
        d = shown[guid]
        return d["license_title"], d.get("license_url"), d["isopen"]

    lo2 = ("Licence Ouverte / Open Licence 2.0",
           ("https://www.etalab.gouv.fr/wp-content/uploads/2017/04/"
           "ETALAB-Licence-Ouverte-v2.0.pdf"), True)
    assert licence("lo2") == lo2 and licence("dpe") == lo2
    assert shown["lo2"]["license_id"] == "etalab-2.0"
    assert licence("lo1") == ("Licence Ouverte / Open Licence 1.0", ("https://www.etalab.gouv.fr/"
                              "wp-content/uploads/2014/05/Licence_Ouverte.pdf"), True)
    assert licence("odbl")[0] == "Open Data Commons Open Database License (ODbL)"
    assert licence("odbl")[2] is True and licence("cc0")[2] is True
    assert licence("conso") == ("Creative Commons Attribution 4.0 (CC-BY 4.0)",
                                "https://creativecommons.org/licenses/by/4.0/", True)
    # unknown to the mapping: the remote title and URL, not "License not specified"
    assert licence("maison") == ("Licence de la Ville de Pessac",
                                 "https://www.pessac.fr/licence-donnees", False)


@pytest.mark.ckan_config("licenses_group_url", "")
def test_the_licence_register_offers_the_french_licences():
    from ckan.tests import helpers

    offered = {lic["id"]: lic for lic in helpers.call_action("license_list")}
    assert offered["etalab-2.0"]["title"] == "Licence Ouverte / Open Licence 2.0"
    assert offered["fr-lo"]["title"] == "Licence Ouverte / Open Licence 1.0"
    assert offered["cc-by-4.0"]["url"] == "https://creativecommons.org/licenses/by/4.0/"
    assert offered["etalab-2.0"]["od_conformance"] == "approved"
    # CKAN's own list is kept
    assert {"odc-odbl", "cc-zero", "cc-by", "notspecified"} <= set(offered)
