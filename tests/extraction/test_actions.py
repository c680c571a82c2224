"""Profiles, extractions and downloads through the real API, PostgreSQL, Redis and RQ."""
from __future__ import annotations

import csv
import io

import pytest
from ckan.tests import factories

from .conftest import communes_csv, gironde_and_landes, run_jobs, upload

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")


def call(app, action, status=200, user=None, **data):
    headers = {"Authorization": user["token"]} if user else {}
    response = app.post(f"/api/3/action/{action}", json=data, headers=headers)
    assert response.status_code == status
    return response.json


@pytest.fixture()
def communes_resource(org):
    dataset = factories.Dataset(owner_org=org["id"], title="Population des communes",
                                license_id="odc-odbl")
    data = communes_csv(gironde_and_landes(), ["99999;Nowhere;1"])
    resource = factories.Resource(package_id=dataset["id"], name="population.csv",
                                  upload=upload(data, "population.csv"), format="CSV")
    return resource


def test_profile_is_detected_by_a_background_job(app, communes_resource):
    before = call(app, "dataclic_profile_show", resource_id=communes_resource["id"])["result"]
    assert before["status"] == "pending"
    run_jobs()
    after = call(app, "dataclic_profile_show", resource_id=communes_resource["id"])["result"]
    assert after["status"] == "detected"
    assert after["profile"]["code_column"] == "code_insee"
    assert after["modes"] == ["filter"]
    assert after["formats"] == ["csv", "parquet"]
    assert after["geometric"] is False


def test_small_extraction_finishes_within_the_request_and_downloads(app, communes_resource):
    run_jobs()
    record = call(app, "dataclic_extract", resource_id=communes_resource["id"],
                  perimeter="epci:243300316", format="csv")["result"]
    assert record["status"] == "done"
    assert record["cached"] is False
    assert record["perimeter_name"] == "Bordeaux Métropole"
    assert record["report"]["rows_kept"] == 28
    assert record["report"]["rows_unknown_code"] == 1
    assert record["filename"] == "population_bordeaux-metropole.csv"
    assert len(record["id"]) >= 32
    url = record["download_url"].replace("http://test.ckan.net", "")
    response = app.get(url)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert 'filename=population_bordeaux-metropole.csv' in response.headers[
        "Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True)), delimiter=";"))
    assert len(rows) == 28 and {r["code_insee"][:2] for r in rows} == {"33"}
    assert "33063" in {r["code_insee"] for r in rows}
    body = response.get_data()

    head = app.test_client().head(url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(body)
    ranged = app.get(url, headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.get_data() == body[10:20]
    assert ranged.headers["Content-Range"] == f"bytes 10-19/{len(body)}"

    again = call(app, "dataclic_extract", resource_id=communes_resource["id"],
                 perimeter="epci:243300316", format="csv")["result"]
    assert again["id"] == record["id"] and again["cached"] is True
    shown = call(app, "dataclic_extract_show", id=record["id"])["result"]
    assert shown["status"] == "done" and shown["progress"]["percent"] == 100.0
    listed = call(app, "dataclic_extract_list", resource_id=communes_resource["id"])["result"]
    assert [r["id"] for r in listed] == [record["id"]]
    preview = call(app, "dataclic_extract_preview", resource_id=communes_resource["id"],
                   perimeter="epci:243300316")["result"]
    assert preview == {"perimeter": "epci:243300316", "perimeter_name": "Bordeaux Métropole",
                       "mode": "filter", "rows_estimate": 28, "exact": True, "covered": True,
                       "source": "cache"}


def test_parquet_and_enrich_options_are_distinct_cache_entries(app, communes_resource):
    run_jobs()
    first = call(app, "dataclic_extract", resource_id=communes_resource["id"],
                 perimeter="departement:40", format="parquet", enrich=True)["result"]
    assert first["status"] == "done" and first["filename"].endswith("_landes.parquet")
    second = call(app, "dataclic_extract", resource_id=communes_resource["id"],
                  perimeter="departement:40", format="csv")["result"]
    assert second["id"] != first["id"]
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(app.get(
        first["download_url"].replace("http://test.ckan.net", "")).get_data()))
    assert "epci_name" in table.column_names
    assert table.num_rows == first["report"]["rows_kept"] > 300


@pytest.mark.parametrize(("data", "field"), [
    ({"perimeter": "epci:999999999", "format": "csv"}, "perimeter"),
    ({"perimeter": "nowhere", "format": "csv"}, "perimeter"),
    ({"perimeter": "commune:33063", "format": "docx"}, "format"),
    ({"perimeter": "commune:33063", "format": "geojson"}, "format"),
    ({"perimeter": "commune:33063", "format": "csv", "mode": "clip"}, "mode"),
    ({"perimeter": "commune:33063", "format": "csv", "out_crs": "EPSG:1"}, "out_crs"),
    ({"format": "csv"}, "perimeter"),
])
def test_bad_requests_are_validation_errors(app, communes_resource, data, field):
    run_jobs()
    body = call(app, "dataclic_extract", status=409, resource_id=communes_resource["id"],
                **data)
    assert body["error"]["__type"] == "Validation Error"
    assert field in body["error"]


def test_unknown_resource_and_extraction_are_not_found(app):
    call(app, "dataclic_extract", status=404, resource_id="nope", perimeter="commune:33063")
    call(app, "dataclic_extract_show", status=404, id="guessed-id")
    assert app.get("/dataclic/extraction/guessed-id/download", status=404)


def test_a_file_without_codes_or_geometry_says_why(app, org):
    dataset = factories.Dataset(owner_org=org["id"])
    resource = factories.Resource(package_id=dataset["id"], upload=upload(
        b"a;b\n1;2\n3;4\n", "numbers.csv"))
    run_jobs()
    shown = call(app, "dataclic_profile_show", resource_id=resource["id"])["result"]
    assert shown["status"] == "none" and "commune-code column" in shown["message"]
    body = call(app, "dataclic_extract", status=409, resource_id=resource["id"],
                perimeter="commune:33063")
    assert "cannot be extracted" in body["error"]["resource_id"][0]


def test_corrupt_file_gets_an_error_profile(app, org):
    dataset = factories.Dataset(owner_org=org["id"])
    resource = factories.Resource(package_id=dataset["id"], upload=upload(
        b"\x00\x01\x02binary\x00" * 50, "data.csv"))
    run_jobs()
    shown = call(app, "dataclic_profile_show", resource_id=resource["id"])["result"]
    assert shown["status"] == "error" and "binary" in shown["message"]


def test_editors_correct_the_profile_others_cannot(app, org, editor, communes_resource):
    run_jobs()
    outsider = factories.UserWithToken()
    call(app, "dataclic_profile_update", status=403, user=outsider,
         resource_id=communes_resource["id"], profile={"code_column": "nom"})
    body = call(app, "dataclic_profile_update", status=409, user=editor,
                resource_id=communes_resource["id"], profile={"code_column": "missing"})
    assert "missing" in body["error"]["profile"][0]
    fixed = call(app, "dataclic_profile_update", user=editor,
                 resource_id=communes_resource["id"],
                 profile={"code_column": "population"})["result"]
    assert fixed["profile"]["code_column"] == "population" and fixed["corrected"] is True


class TestPrivateResources:
    @pytest.fixture()
    def private_resource(self, org):
        dataset = factories.Dataset(owner_org=org["id"], private=True)
        data = communes_csv(gironde_and_landes()[:50])
        return factories.Resource(package_id=dataset["id"], upload=upload(data, "p.csv"))

    def test_outsiders_get_403_even_with_the_extraction_id(self, app, editor,
                                                           private_resource):
        run_jobs()
        record = call(app, "dataclic_extract", user=editor,
                      resource_id=private_resource["id"], perimeter="departement:33",
                      format="csv")["result"]
        assert record["status"] == "done"
        outsider = factories.UserWithToken()
        for user in (None, outsider):
            call(app, "dataclic_extract", status=403, user=user,
                 resource_id=private_resource["id"], perimeter="departement:33")
            call(app, "dataclic_extract_show", status=403, user=user, id=record["id"])
            call(app, "dataclic_profile_show", status=403, user=user,
                 resource_id=private_resource["id"])
        url = record["download_url"].replace("http://test.ckan.net", "")
        assert app.get(url, status=403)
        assert app.get(url, headers={"Authorization": outsider["token"]}, status=403)
        assert app.get(url, headers={"Authorization": editor["token"]}, status=200)


def test_result_removed_by_hand_is_extracted_again(app, communes_resource):
    import os

    from ckanext.dataclic.model import extraction as store

    run_jobs()
    first = call(app, "dataclic_extract", resource_id=communes_resource["id"],
                 perimeter="commune:33063", format="csv")["result"]
    os.unlink(store.get_extraction(first["id"])["path"])
    url = first["download_url"].replace("http://test.ckan.net", "")
    assert app.get(url, status=404)
    second = call(app, "dataclic_extract", resource_id=communes_resource["id"],
                  perimeter="commune:33063", format="csv")["result"]
    assert second["id"] != first["id"] and second["status"] == "done"
    assert app.get(second["download_url"].replace("http://test.ckan.net", "")).status_code == 200


def test_resource_without_profile_record_gets_one_enqueued(app, communes_resource, org):
    from ckanext.dataclic.model import extraction as store

    dataset = factories.Dataset(owner_org=org["id"])
    remote = factories.Resource(package_id=dataset["id"], url="http://127.0.0.1:9/x.csv")
    run_jobs()
    with store.engine().begin() as conn:  # as if created before the plugin was installed
        conn.exec_driver_sql("DELETE FROM dataclic_resource_profile")
    body = call(app, "dataclic_extract", status=409, resource_id=remote["id"],
                perimeter="commune:33063", format="csv")
    assert "still being detected" in body["error"]["resource_id"][0]
    run_jobs()
    shown = call(app, "dataclic_profile_show", resource_id=remote["id"])["result"]
    assert shown["status"] == "error" and "Cannot fetch" in shown["message"]


def test_a_zipped_csv_resource_is_profiled_and_extracted(app, org):
    """National portals often publish CSV files zipped: the portal reads the one data file
    of the archive like a plain upload."""
    import zipfile

    dataset = factories.Dataset(owner_org=org["id"], license_id="odc-odbl")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("LISEZMOI.txt", "Population des communes")
        zf.writestr("population.csv", communes_csv(gironde_and_landes(), ["99999;Nowhere;1"]))
    resource = factories.Resource(package_id=dataset["id"], name="population.zip",
                                  upload=upload(buf.getvalue(), "population.zip"), format="ZIP")
    run_jobs()
    shown = call(app, "dataclic_profile_show", resource_id=resource["id"])["result"]
    assert shown["status"] == "detected", shown
    assert shown["profile"]["archive_member"] == "population.csv"
    assert shown["profile"]["code_column"] == "code_insee"
    record = call(app, "dataclic_extract", resource_id=resource["id"],
                  perimeter="epci:243300316", format="csv")["result"]
    assert record["status"] == "done", record
    assert record["report"]["rows_kept"] == 28
    body = app.get(record["download_url"].replace("http://test.ckan.net", "")).get_data(
        as_text=True)
    rows = list(csv.DictReader(io.StringIO(body), delimiter=";"))
    assert len(rows) == 28 and "33063" in {r["code_insee"] for r in rows}
