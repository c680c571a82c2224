"""Large CSV resources get the engine's index in a background job; extractions and the
preview then read only their rows (real API, PostgreSQL, Redis and RQ)."""
from __future__ import annotations

import csv
import io

import pytest
from ckan.tests import factories

from ckanext.dataclic.extraction import service

from .conftest import communes_csv, gironde_and_landes, run_jobs, upload

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")


def call(app, action, status=200, **data):
    response = app.post(f"/api/3/action/{action}", json=data)
    assert response.status_code == status
    return response.json


def _resource(org, data: bytes, name: str):
    dataset = factories.Dataset(owner_org=org["id"], license_id="odc-odbl")
    return factories.Resource(package_id=dataset["id"], name=name, upload=upload(data, name),
                              format="CSV")


def _indexes(resource_id: str) -> list[str]:
    folder = service.index_dir(resource_id)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _rows(app, record) -> list[dict[str, str]]:
    body = app.get(record["download_url"].replace("http://test.ckan.net", "")).get_data(
        as_text=True)
    return list(csv.DictReader(io.StringIO(body), delimiter=";"))


@pytest.mark.ckan_config("ckanext.dataclic.extract.index_min_bytes", "1")
def test_a_large_code_file_is_indexed_and_extractions_use_the_index(app, org):
    resource = _resource(org, communes_csv(gironde_and_landes(), ["99999;Nowhere;1"]),
                         "population.csv")
    run_jobs()  # the profile job, then the index job it enqueues
    assert len(_indexes(resource["id"])) == 1
    assert _indexes(resource["id"])[0].endswith(".dataclic-index")
    record = call(app, "dataclic_extract", resource_id=resource["id"],
                  perimeter="epci:243300316", format="csv")["result"]
    assert record["status"] == "done", record
    assert record["report"]["index_used"] is True
    assert record["report"]["rows_kept"] == 28
    assert record["report"]["rows_unknown_code"] == 1
    rows = _rows(app, record)
    assert len(rows) == 28 and {r["code_insee"][:2] for r in rows} == {"33"}
    preview = call(app, "dataclic_extract_preview", resource_id=resource["id"],
                   perimeter="departement:40")["result"]
    assert preview["source"] == "index" and preview["exact"] is True
    assert preview["rows_estimate"] == sum(1 for c in gironde_and_landes() if c[:2] == "40")


@pytest.mark.ckan_config("ckanext.dataclic.extract.index_min_bytes", "1")
def test_a_large_point_file_is_indexed_too(app, org):
    lines = ["id;latitude;longitude", "bdx;44.8378;-0.5792", "paris;48.8566;2.3522",
             "talence;44.8024;-0.5886", "dax;43.7102;-1.0536"]
    resource = _resource(org, ("\n".join(lines) + "\n").encode(), "points.csv")
    run_jobs()
    assert len(_indexes(resource["id"])) == 1
    record = call(app, "dataclic_extract", resource_id=resource["id"],
                  perimeter="epci:243300316", mode="intersects", format="csv")["result"]
    assert record["status"] == "done", record
    assert record["report"]["index_used"] is True
    assert [r["id"] for r in _rows(app, record)] == ["bdx", "talence"]


def test_files_under_the_size_limit_are_not_indexed(app, org):
    resource = _resource(org, communes_csv(gironde_and_landes()), "population.csv")
    run_jobs()
    assert _indexes(resource["id"]) == []
    record = call(app, "dataclic_extract", resource_id=resource["id"],
                  perimeter="epci:243300316", format="csv")["result"]
    assert record["status"] == "done" and record["report"]["index_used"] is False


@pytest.mark.ckan_config("ckanext.dataclic.extract.index_min_bytes", "1")
def test_an_index_of_another_profile_is_rebuilt(app, org):
    from ckanext.dataclic.model import extraction as store

    lines = ["id;code_insee;autre_code;latitude;longitude",
             "bdx;33063;40192;44.8378;-0.5792", "dax;40088;33063;43.7102;-1.0536"]
    resource = _resource(org, ("\n".join(lines) + "\n").encode(), "mixte.csv")
    run_jobs()
    shown = service.show_resource(resource["id"])
    first = service.build_index(shown)
    assert first is None  # the job built it already: nothing to do
    record = store.get_profile(resource["id"])
    changed = dict(record["profile"], code_column="autre_code")
    store.save_profile(resource["id"], status="detected", profile=changed, message=None,
                       content_version=record["content_version"], corrected=True)
    rebuilt = service.build_index(shown)
    assert rebuilt is not None and rebuilt["profile"]["code_column"] == "autre_code"
    assert service.build_index(shown) is None
