"""Publication with provenance, refresh when the source changes, purge, remote sources."""
from __future__ import annotations

import http.server
import threading

import pytest
from ckan.tests import factories

from ckanext.dataclic.extraction import service
from ckanext.dataclic.model import extraction as store

from .conftest import communes_csv, gironde_and_landes, run_jobs, upload
from .test_actions import call

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")


@pytest.fixture()
def source(org):
    dataset = factories.Dataset(owner_org=org["id"], name="population-communes",
                                title="Population des communes", license_id="odc-odbl")
    resource = factories.Resource(package_id=dataset["id"], name="population.csv",
                                  upload=upload(communes_csv(gironde_and_landes()), "p.csv"))
    run_jobs()
    return dataset, resource


def extract(app, resource, perimeter="epci:243300316", user=None):
    return call(app, "dataclic_extract", user=user, resource_id=resource["id"],
                perimeter=perimeter, format="csv")["result"]


def test_publish_creates_a_dataset_with_provenance(app, editor, org, source):
    _dataset, resource = source
    record = extract(app, resource)
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["name"])["result"]
    published = call(app, "package_show", user=editor, id=result["package_id"])["result"]
    assert published["title"] == "Population des communes — Bordeaux Métropole"
    assert published["license_id"] == "odc-odbl"
    assert published["owner_org"] == org["id"]
    extras = {e["key"]: e["value"] for e in published["extras"]}
    assert extras["dataclic_source_package"] == "population-communes"
    assert extras["dataclic_source_resource"] == resource["id"]
    assert extras["dataclic_perimeter"] == "epci:243300316"
    assert extras["dataclic_perimeter_name"] == "Bordeaux Métropole"
    assert extras["dataclic_cog_vintage"] == "COG 2026"
    assert extras["dataclic_mode"] == "filter"
    assert extras["dataclic_rows_kept"] == "28"
    assert extras["dataclic_extraction_date"][:4] == "2026" or extras[
        "dataclic_extraction_date"]
    [res] = published["resources"]
    assert res["url_type"] == "upload" and res["format"] == "CSV"
    assert res["dataclic_source_resource"] == resource["id"]
    body = app.get(res["url"].replace("http://test.ckan.net", "")).get_data(as_text=True)
    assert body.count("\n") == 29 and "Bordeaux" in body
    assert result["url"].endswith(f"/dataset/{result['package_name']}")


def test_publish_needs_rights_in_the_target_organisation(app, org, source):
    _dataset, resource = source
    record = extract(app, resource)
    outsider = factories.UserWithToken()
    call(app, "dataclic_publish", status=403, user=outsider, id=record["id"],
         owner_org=org["name"])
    call(app, "dataclic_publish", status=403, id=record["id"], owner_org=org["name"])
    body = call(app, "dataclic_publish", status=409, user=outsider, id=record["id"],
                owner_org="no-such-org")
    assert "owner_org" in body["error"]
    call(app, "dataclic_publish", status=404, user=outsider, id="guess", owner_org=org["name"])


def test_publish_into_an_existing_dataset_and_replace_a_resource(app, editor, org, source):
    _dataset, resource = source
    target = factories.Dataset(owner_org=org["id"])
    first = extract(app, resource)
    added = call(app, "dataclic_publish", user=editor, id=first["id"], owner_org=org["id"],
                 package_id=target["id"])["result"]
    assert added["package_id"] == target["id"]
    second = extract(app, resource, perimeter="departement:40")
    replaced = call(app, "dataclic_publish", user=editor, id=second["id"], owner_org=org["id"],
                    package_id=target["id"], resource_id=added["resource_id"])["result"]
    assert replaced["resource_id"] == added["resource_id"]
    shown = call(app, "resource_show", user=editor, id=added["resource_id"])["result"]
    assert shown["dataclic_perimeter"] == "departement:40"
    assert shown["name"].endswith("— Landes")


def test_source_change_refreshes_the_published_extract(app, editor, org, source):
    _dataset, resource = source
    record = extract(app, resource)
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["id"])["result"]
    run_jobs()  # profile of the published resource
    fewer = [c for c in gironde_and_landes() if c != "33063"]
    from ckan.tests import helpers

    helpers.call_action("resource_patch", id=resource["id"],
                        upload=upload(communes_csv(fewer), "p.csv"))
    run_jobs()  # detection of the new version, then the refresh it enqueues
    item = store.get_publication(result["resource_id"])
    assert item["refresh_status"] == "ok", item["refresh_message"]
    published = call(app, "package_show", user=editor, id=result["package_id"])["result"]
    extras = {e["key"]: e["value"] for e in published["extras"]}
    assert extras["dataclic_refresh_status"] == "ok"
    assert extras["dataclic_rows_kept"] == "28"  # the dataset keeps its first facts
    res = published["resources"][0]
    assert res["dataclic_rows_kept"] == "27"
    body = app.get(res["url"].replace("http://test.ckan.net", "")).get_data(as_text=True)
    assert "33063" not in body and body.count("\n") == 28


def test_cli_refresh_and_failed_refresh_keeps_the_file(app, cli, editor, org, source):
    from ckanext.dataclic.extraction.commands import refresh

    _dataset, resource = source
    record = extract(app, resource)
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["id"])["result"]
    out = cli.invoke(refresh, [])
    assert out.exit_code == 0 and "Nothing to refresh" in out.output
    out = cli.invoke(refresh, ["--all"])
    assert out.exit_code == 0, out.output
    assert f"{result['resource_id']}: unchanged" in out.output
    # The source loses its code column: the refresh fails, the published file stays.
    from ckan.tests import helpers

    helpers.call_action("resource_patch", id=resource["id"],
                        upload=upload(b"a;b\n1;2\n", "p.csv"))
    store.save_profile(resource["id"], status="pending", profile=None, message=None,
                       content_version="")
    out = cli.invoke(refresh, ["--dataset", "population-communes"])
    assert out.exit_code != 0 and "failed" in out.output
    item = store.get_publication(result["resource_id"])
    assert item["refresh_status"] == "failed" and "cannot be extracted" in item[
        "refresh_message"]
    res = call(app, "resource_show", user=editor, id=result["resource_id"])["result"]
    body = app.get(res["url"].replace("http://test.ckan.net", "")).get_data(as_text=True)
    assert "Bordeaux" in body


def test_purge_by_age_and_size(app, source):
    _dataset, resource = source
    first = extract(app, resource)
    second = extract(app, resource, perimeter="departement:40")
    paths = [store.get_extraction(r["id"])["path"] for r in (first, second)]
    store.update_extraction(first["id"], last_access=store.now().replace(year=2020))
    result = service.purge(max_age_days=7, max_total_mb=100)
    assert result.records == 1 and store.get_extraction(first["id"]) is None
    import os

    assert not os.path.exists(paths[0]) and os.path.exists(paths[1])
    result = service.purge(max_age_days=7, max_total_mb=0)
    assert result.records == 1 and not os.path.exists(paths[1])
    call(app, "dataclic_extract_show", status=404, id=second["id"])


class CsvServer:
    """A real HTTP server on 127.0.0.1 answering ``body`` with ``status`` to every GET."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        payload = body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/population.csv"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_remote_url_is_fetched_and_extracted_in_a_job(app, org, ckan_config, monkeypatch):
    server = CsvServer(communes_csv(gironde_and_landes()))
    try:
        dataset = factories.Dataset(owner_org=org["id"])
        resource = factories.Resource(package_id=dataset["id"], url=server.url, name="remote")
        run_jobs()
        shown = call(app, "dataclic_profile_show", resource_id=resource["id"])["result"]
        assert shown["status"] == "detected", shown
        record = extract(app, resource)
        assert record["status"] == "queued"
        run_jobs()
        done = call(app, "dataclic_extract_show", id=record["id"])["result"]
        assert done["status"] == "done" and done["report"]["rows_kept"] == 28
        # Without the allowlist, a loopback URL is refused with a plain reason.
        monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.allowed_hosts", "")
        other = factories.Resource(package_id=dataset["id"], url=server.url + "?v=2")
        run_jobs()
        refused = call(app, "dataclic_profile_show", resource_id=other["id"])["result"]
        assert refused["status"] == "error"
        assert "non-public address" in refused["message"]
        assert "ckanext.dataclic.extract.allowed_hosts" in refused["message"]
    finally:
        server.close()


def test_anonymous_caps(app, source, ckan_config, monkeypatch):
    _dataset, resource = source
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.anonymous_rate_limit", "1")
    extract(app, resource)
    body = call(app, "dataclic_extract", status=409, resource_id=resource["id"],
                perimeter="departement:40", format="csv")
    assert "Anonymous visitors may start 1 new extractions" in body["error"]["resource_id"][0]
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.anonymous_max_input_bytes", "10")
    body = call(app, "dataclic_extract", status=409, resource_id=resource["id"],
                perimeter="departement:33", format="csv")
    assert "too large" in body["error"]["resource_id"][0]
    # Logged-in users are not capped by the anonymous limits.
    user = factories.UserWithToken()
    assert extract(app, resource, perimeter="departement:40", user=user)["status"] == "done"


def test_new_referential_vintage_queues_refreshes(app, editor, org, source):
    from ckanext.dataclic.cli import _refresh_publications

    _dataset, resource = source
    record = extract(app, resource)
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["id"])["result"]
    run_jobs()
    # As if it had been cut with last year's referential.
    store.update_publication(result["resource_id"], vintage="COG 2025")
    _refresh_publications()
    run_jobs()
    item = store.get_publication(result["resource_id"])
    assert item["vintage"] == "COG 2026"
    assert item["refresh_status"] in ("ok", "unchanged")
    assert item["last_refresh"] is not None


def test_published_dataset_carries_the_territory_outline_and_geozone(app, editor, org, source):
    import json

    import shapely

    _dataset, resource = source
    record = extract(app, resource)
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["name"])["result"]
    published = call(app, "package_show", user=editor, id=result["package_id"])["result"]
    extras = {e["key"]: e["value"] for e in published["extras"]}
    assert extras["dataclic_geozones"] == "fr:epci:243300316"
    outline = shapely.from_geojson(extras["spatial"])
    assert json.loads(extras["spatial"])["type"] in ("Polygon", "MultiPolygon")
    assert len(extras["spatial"]) <= 20_000
    # Independent expectation: the member communes' own contours, merged here.
    referential = service.referential()
    members = referential.resolve("epci:243300316").communes
    contours = [referential.commune_geometry(code) for code in members]
    expected = shapely.union_all([c for c in contours if c is not None])
    for mine, theirs in zip(outline.bounds, expected.bounds):
        assert abs(mine - theirs) < 0.01
    overlap = outline.intersection(expected).area
    assert overlap / expected.area > 0.97 and overlap / outline.area > 0.97
    # Bordeaux's town hall is inside, Arcachon's is not.
    assert outline.contains(shapely.Point(-0.5792, 44.8378))
    assert not outline.contains(shapely.Point(-1.1680, 44.6586))
