"""dataclic_hubeau and dataclic_georisques: paged referentials gathered into a CSV file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from .conftest import harvest_marks, make_source, run_job, show, statuses
from .fixture_server import SHARED_DATA, Reply

pytestmark = harvest_marks

GREEN = SHARED_DATA / "green"
PIEZO = GREEN / "hubeau_piezometrie_stations_national_brgm.json"
ONDE = GREEN / "api_responses" / "hubeau_v1_ecoulement_campagnes_dep41_page1.json"
HYDRO_ONE = GREEN / "api_responses" / "hubeau_v2_hydrometrie_referentiel_stations_K447001001.json"
ICPE = GREEN / "api_responses" / "georisques_icpe_etablissement_0063-03511.json"


def need(path: Path) -> Any:
    if not path.exists():
        pytest.skip(f"../shared/data is absent: {path.name} is there")
    return json.loads(path.read_text())


def hubeau_route(server, path: str, records: list[dict], fail_page: int | None = None,
                 loop: bool = False):
    """Hub'Eau paging: ``count``, ``first``, ``next`` links, ``data``."""

    def route(query: dict[str, list[str]]) -> Reply:
        page, size = int(query.get("page", ["1"])[0]), int(query["size"][0])
        if page == fail_page:
            return Reply.json({"message": "Internal error"}, 500)
        chunk = records[(page - 1) * size: page * size]
        more = page * size < len(records)
        following = 1 if loop and more and page == 2 else page + 1
        base = {k: v[0] for k, v in query.items()}
        return Reply.json({
            "count": len(records), "api_version": "1.4.0",
            "first": f"{server.url}{path}?{urlencode({**base, 'page': 1})}",
            "next": f"{server.url}{path}?{urlencode({**base, 'page': following})}"
            if more else None,
            "data": chunk,
        })

    server.routes[path] = route


def stored_rows(resource: dict[str, Any]) -> list[dict[str, str]]:
    from ckan.lib import uploader

    path = uploader.get_resource_uploader(resource).get_path(resource["id"])
    return list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))


def test_hubeau_referential_pages_become_one_csv_with_a_profile(server, org):
    stations = need(PIEZO)
    hubeau_route(server, "/api/v1/niveaux_nappes/stations", stations)
    hydro = need(HYDRO_ONE)
    server.routes["/api/v2/hydrometrie/referentiel/stations"] = Reply.json(hydro)
    config = {"endpoints": ["v1/niveaux_nappes/stations", "v2/hydrometrie/referentiel/stations"],
              "page_size": 500, "max_retries": 0}
    source = make_source(server.url + "/api", "dataclic_hubeau", config, org)

    report = run_job(source["id"])
    assert statuses(report) == {e: "added" for e in config["endpoints"]}
    assert len([r for r in server.requests if "niveaux_nappes" in r]) == 4  # 1840 / 500

    piezo = show(report["objects"]["v1/niveaux_nappes/stations"]["package_id"])
    assert piezo["name"] == "hubeau-v1-niveaux_nappes-stations"
    file_res = piezo["resources"][0]
    assert file_res["url_type"] == "upload" and file_res["hash"].startswith("sha256:")
    rows = stored_rows(file_res)
    assert len(rows) == len(stations) and rows[0]["bss_id"] == stations[0]["bss_id"]
    profile = json.loads(file_res["dataclic_profile"])
    assert profile["geometry"] == "latlon"
    assert (profile["lat_column"], profile["lon_column"]) == ("laty", "longx")

    blois = show(report["objects"]["v2/hydrometrie/referentiel/stations"]["package_id"])
    row = stored_rows(blois["resources"][0])[0]
    assert row["code_commune_station"] == "41018"
    assert row["code_sandre_reseau_station"].startswith("POH119|POH007")

    assert sorted(statuses(run_job(source["id"])).values()) == ["not modified"] * 2

    stations[10] = {**stations[10], "nbmestr": 1}
    hubeau_route(server, "/api/v1/niveaux_nappes/stations", stations)
    changed = run_job(source["id"])
    assert statuses(changed)["v1/niveaux_nappes/stations"] == "updated"
    assert statuses(changed)["v2/hydrometrie/referentiel/stations"] == "not modified"
    assert stored_rows(show(piezo["id"])["resources"][0])[10]["nbmestr"] == "1"


def test_hubeau_failures_loops_and_caps_are_object_errors(server, org):
    onde = need(ONDE)
    records = onde["data"] * 5
    hubeau_route(server, "/api/v1/ecoulement/campagnes", records)
    hubeau_route(server, "/api/v1/ecoulement/observations", records)
    config = {"endpoints": ["v1/ecoulement/campagnes", "v1/ecoulement/observations"],
              "params": {"code_departement": "41"}, "page_size": 20, "max_retries": 0}
    source = make_source(server.url + "/api/", "dataclic_hubeau", config, org)
    first = run_job(source["id"])
    assert sorted(statuses(first).values()) == ["added"] * 2
    assert all("code_departement=41" in r for r in server.requests)

    hubeau_route(server, "/api/v1/ecoulement/campagnes", records, fail_page=3)
    hubeau_route(server, "/api/v1/ecoulement/observations", records, loop=True)
    broken = run_job(source["id"])
    assert statuses(broken) == {"v1/ecoulement/campagnes": "errored",
                                "v1/ecoulement/observations": "errored"}
    assert "500" in broken["objects"]["v1/ecoulement/campagnes"]["errors"][0]
    assert "loops back" in broken["objects"]["v1/ecoulement/observations"]["errors"][0]
    kept = show(first["objects"]["v1/ecoulement/campagnes"]["package_id"])
    assert kept["state"] == "active" and len(stored_rows(kept["resources"][0])) == len(records)

    hubeau_route(server, "/api/v1/ecoulement/campagnes", records)
    from ckan.tests import helpers

    source["config"] = json.dumps({**config, "endpoints": ["v1/ecoulement/campagnes"],
                                   "max_pages": 2})
    helpers.call_action("harvest_source_update", **source)
    capped = run_job(source["id"])
    assert statuses(capped) == {"v1/ecoulement/campagnes": "errored",
                                "v1/ecoulement/observations": "deleted"}
    assert "more than 2 pages" in capped["objects"]["v1/ecoulement/campagnes"]["errors"][0]


def test_georisques_pages_by_total_pages(server, org):
    icpe = need(ICPE)
    installations = [{**icpe, "idInst": f"0063.{n:05d}"} for n in range(7)]

    def route(query: dict[str, list[str]]) -> Reply:
        page, size = int(query["page"][0]) if "page" in query else 1, int(query["page_size"][0])
        chunk = installations[(page - 1) * size: page * size]
        return Reply.json({"results": len(installations), "page": page,
                           "total_pages": -(-len(installations) // size), "data": chunk})

    server.routes["/api/v1/installations_classees"] = route
    config = {"endpoints": ["v1/installations_classees"], "params": {"departement": "53"},
              "page_size": 3}
    source = make_source(server.url + "/api", "dataclic_georisques", config, org)
    report = run_job(source["id"])
    (obj,) = report["objects"].values()
    assert obj["status"] == "added"
    dataset = show(obj["package_id"])
    rows = stored_rows(dataset["resources"][0])
    assert [r["idInst"] for r in rows] == [i["idInst"] for i in installations]
    assert rows[0]["codeInsee"] == "53147"
    assert {t["name"] for t in dataset["tags"]} == {"risques", "georisques"}
    assert statuses(run_job(source["id"])) == {"v1/installations_classees": "not modified"}


@pytest.mark.parametrize(("kind", "config", "named"), [
    ("dataclic_hubeau", {"endpoints": "v1/x"}, "endpoints"),
    ("dataclic_hubeau", {"endpoints": ["v1/x"], "params": {"a": [1]}}, "params"),
    ("dataclic_georisques", {"endpoints": ["v1/x"], "page_size": 0}, "page_size"),
    ("dataclic_georisques", {"endpoint": ["v1/x"]}, "endpoint"),
])
def test_bad_source_config_is_refused_on_save(org, kind, config, named):
    from ckan.plugins import toolkit

    with pytest.raises(toolkit.ValidationError) as err:
        make_source("https://hubeau.eaufrance.fr/api", kind, config, org)
    assert named in json.dumps(err.value.error_dict)
