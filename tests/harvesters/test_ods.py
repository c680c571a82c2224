"""dataclic_ods against a real HTTP server serving Explore v2.1-shaped answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import harvest_marks, make_source, run_job, show, statuses
from .fixture_server import SHARED_DATA, Reply

pytestmark = harvest_marks

RECORDS = SHARED_DATA / "catalog_api" / "ods_explore_v2.1_records_odisse_climat.json"
API = "/api/explore/v2.1/catalog/datasets"


def real_fields() -> list[dict[str, str]]:
    """Field names of the recorded Odissé /records answer, typed as the portal types them."""
    if not RECORDS.exists():
        pytest.skip("../shared/data is absent: the recorded Opendatasoft answer is there")
    record = json.loads(RECORDS.read_text())["results"][0]
    return [{"name": k, "label": k.replace("_", " "),
             "type": "double" if isinstance(v, float) else "text"} for k, v in record.items()]


def ods_dataset(ident: str, modified: str = "2026-01-01T00:00:00+00:00",
                fields: list[dict[str, str]] | None = None, geo: bool = False) -> dict[str, Any]:
    fields = list(fields or [{"name": "code_insee", "label": "Code INSEE", "type": "text"},
                             {"name": "valeur", "label": "Valeur", "type": "double"}])
    if geo:
        fields.append({"name": "geo_point_2d", "label": "Position", "type": "geo_point_2d"})
    return {
        "dataset_id": ident,
        "dataset_uid": f"da_{ident}",
        "has_records": True,
        "features": ["analyze"] + (["geo"] if geo else []),
        "metas": {"default": {
            "title": f"Indicateur {ident}", "description": "<p>Indicateur climat</p>",
            "license": "Licence Ouverte v2.0", "keyword": ["climat", "santé"],
            "theme": ["Environnement"], "publisher": "Santé publique France",
            "modified": modified, "records_count": 2, "territory": ["France"],
        }},
        "fields": fields,
    }


def catalogue_route(server, datasets: list[dict], status_first: int | None = None):
    def route(query: dict[str, list[str]]) -> Reply:
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        return Reply.json({"total_count": len(datasets),
                           "results": datasets[offset:offset + limit]})

    server.routes[API] = route
    if status_first:
        server.routes[API] = [Reply.json({"error": "slow down"}, status_first,
                                         headers={"Retry-After": "0"}), route]


def test_first_harvest_exports_fields_and_profiles(server, org):
    datasets = [ods_dataset("odisse-climat", fields=real_fields()),
                ods_dataset("stations-air", geo=True), ods_dataset("conso-energie")]
    catalogue_route(server, datasets, status_first=429)
    source = make_source(server.url, "dataclic_ods",
                         {"where": "theme = 'Environnement'", "page_size": 2, "backoff": 0.01},
                         org)
    report = run_job(source["id"])
    assert sorted(statuses(report).values()) == ["added"] * 3
    assert any("where=theme" in r for r in server.requests)

    odisse = show(report["objects"]["odisse-climat"]["package_id"])
    assert odisse["title"] == "Indicateur odisse-climat"
    assert odisse["license_id"] == "etalab-2.0"
    assert [r["format"] for r in odisse["resources"]] == ["CSV", "PARQUET"]  # no geometry
    assert odisse["resources"][0]["url"].endswith(
        "/catalog/datasets/odisse-climat/exports/csv?delimiter=%3B")
    fields = json.loads({e["key"]: e["value"] for e in odisse["extras"]}["dataclic_fields"])
    assert [f["name"] for f in fields][:3] == ["indicateur", "annee", "sexe"]
    assert "dataclic_profile" not in odisse["resources"][0]  # nothing ties it to territory

    stations = show(report["objects"]["stations-air"]["package_id"])
    assert [r["format"] for r in stations["resources"]] == ["CSV", "GeoJSON", "PARQUET"]
    csv_profile = json.loads(stations["resources"][0]["dataclic_profile"])
    assert csv_profile["code_column"] == "code_insee" and csv_profile["delimiter"] == ";"
    assert csv_profile["geometry"] == "point_text"
    assert csv_profile["point_column"] == "geo_point_2d"
    geo_profile = json.loads(stations["resources"][1]["dataclic_profile"])
    assert geo_profile["geometry"] == "native" and geo_profile["crs"] == "EPSG:4326"


def test_ids_unchanged_change_deletion_and_one_failing_object(server, org):
    docs = {i: ods_dataset(i) for i in ("a-1", "b-2", "c-3")}
    for ident, doc in docs.items():
        server.routes[f"{API}/{ident}"] = Reply.json(doc)
    config = {"datasets": list(docs), "max_retries": 0, "exports": ["csv"]}
    source = make_source(server.url + "/api/explore/v2.1/", "dataclic_ods", config, org)

    first = run_job(source["id"])
    assert statuses(first) == {"a-1": "added", "b-2": "added", "c-3": "added"}
    assert statuses(run_job(source["id"])) == {i: "not modified" for i in docs}

    server.routes[f"{API}/b-2"] = Reply.json(ods_dataset("b-2", "2026-03-01T00:00:00+00:00"))
    server.routes[f"{API}/c-3"] = Reply.json({"error": "boom"}, 503)
    third = run_job(source["id"])
    assert statuses(third) == {"a-1": "not modified", "b-2": "updated", "c-3": "errored"}
    assert "503" in third["objects"]["c-3"]["errors"][0]
    assert f"{API}/c-3" in third["objects"]["c-3"]["errors"][0]
    assert show(first["objects"]["c-3"]["package_id"])["state"] == "active"

    source["config"] = json.dumps({**config, "datasets": ["a-1", "b-2"]})
    from ckan.tests import helpers

    helpers.call_action("harvest_source_update", **source)
    fourth = run_job(source["id"])
    assert statuses(fourth) == {"a-1": "not modified", "b-2": "not modified",
                                "c-3": "deleted"}
    assert show(first["objects"]["c-3"]["package_id"])["state"] == "deleted"


@pytest.mark.parametrize(("config", "named"), [
    ({"datasets": ["x"], "where": "a=1"}, "where"),
    ({"exports": ["csv", "pdf"]}, "exports"),
    ({"page_size": 500}, "page_size"),
    ({"where": 3}, "where"),
])
def test_bad_source_config_is_refused_on_save(org, config, named):
    from ckan.plugins import toolkit

    with pytest.raises(toolkit.ValidationError) as err:
        make_source("https://data.example.org", "dataclic_ods", config, org)
    assert named in json.dumps(err.value.error_dict)
