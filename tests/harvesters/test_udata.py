"""dataclic_udata against a real HTTP server serving data.gouv.fr-shaped answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import harvest_marks, make_source, run_job, show, statuses
from .fixture_server import SHARED_DATA, Reply

pytestmark = harvest_marks

FOUND = SHARED_DATA / "catalog_api" / "udata_api1_dataset_found_wrapped.json"
NOT_FOUND = SHARED_DATA / "catalog_api" / "udata_api1_dataset_notfound_wrapped.json"


def udata_dataset(n: int, modified: str = "2026-01-01T00:00:00+00:00", **over: Any) -> dict:
    data = {
        "id": f"65a0000000000000000000{n:02d}",
        "slug": f"stations-qualite-air-{n}",
        "title": f"Stations de mesure de la qualité de l'air {n}",
        "description": "Stations du dispositif national de surveillance.",
        "license": "lov2",
        "tags": ["air", "qualite-de-l-air"],
        "frequency": "annual",
        "temporal_coverage": {"start": "2020-01-01", "end": "2025-12-31"},
        "spatial": {"zones": ["country:fr"], "granularity": "fr:commune"},
        "organization": {"id": "o1", "name": "Geod'air"},
        "last_modified": modified,
        "page": f"https://www.data.gouv.fr/fr/datasets/stations-qualite-air-{n}/",
        "resources": [{
            "id": f"00000000-0000-0000-0000-0000000000{n:02d}",
            "title": "stations.csv", "url": f"https://files.example.org/{n}/stations.csv",
            "format": "csv", "filesize": 1234, "mime": "text/csv",
            "checksum": {"type": "sha1", "value": "d0e6d9499e556c4269b15a92f9288726e90c10ea"},
            "last_modified": modified,
        }],
    }
    data.update(over)
    return data


def search_route(server, datasets: list[dict], page_size: int = 2, fail_page: int | None = None):
    def route(query: dict[str, list[str]]) -> Reply:
        page = int(query.get("page", ["1"])[0])
        if page == fail_page:
            return Reply.json({"message": "boom"}, 500)
        start = (page - 1) * page_size
        chunk = datasets[start:start + page_size]
        more = start + page_size < len(datasets)
        next_page = (f"{server.url}/api/1/datasets/?organization=o1&page={page + 1}"
                     if more else None)
        return Reply.json({"data": chunk, "page": page, "page_size": page_size,
                           "total": len(datasets), "next_page": next_page})

    server.routes["/api/1/datasets/"] = route


@pytest.fixture
def cfg():
    return {"organization": "o1", "max_retries": 0, "read_timeout": 5}


def test_real_record_is_mapped_and_a_missing_one_is_an_object_error(server, org):
    if not FOUND.exists():
        pytest.skip("../shared/data is absent: the recorded data.gouv.fr answers are there")
    real = json.loads(FOUND.read_text())["data"]
    server.routes[f"/api/1/datasets/{real['slug']}/"] = Reply.json(real)
    server.routes["/api/1/datasets/marvin/"] = Reply.json(
        json.loads(NOT_FOUND.read_text())["data"], 404)
    source = make_source(server.url, "dataclic_udata",
                         {"datasets": [real["slug"], "marvin"], "max_retries": 0}, org)

    report = run_job(source["id"])

    assert statuses(report) == {real["slug"]: "added", "marvin": "errored"}
    error = report["objects"]["marvin"]["errors"][0]
    assert "/api/1/datasets/marvin/" in error and "404" in error
    dataset = show(report["objects"][real["slug"]]["package_id"])
    assert dataset["name"] == "fichier-des-personnes-decedees"
    assert dataset["title"] == real["title"]
    assert dataset["license_id"] == "etalab-2.0"
    assert {t["name"] for t in dataset["tags"]} == {"deces", "etat-civil"}
    extras = {e["key"]: e["value"] for e in dataset["extras"]}
    assert extras["frequency"] == "monthly"
    assert extras["temporal_start"] == "1970-01-01" and extras["temporal_end"] == "2022-12-31"
    assert extras["spatial_zones"] == "country:fr"
    assert extras["dataclic_remote_id"] == real["id"]
    assert len(dataset["resources"]) == len(real["resources"])
    first = dataset["resources"][0]
    assert first["url"] == real["resources"][0]["url"]
    assert first["size"] == real["resources"][0]["filesize"]
    assert first["hash"] == "sha1:d0e6d9499e556c4269b15a92f9288726e90c10ea"
    assert first["last_modified"].startswith("2023-10-11T07:21:01")
    assert dataset["owner_org"] == org["id"]
    assert report["status"] == "Finished"


def test_unchanged_change_and_deletion(server, org, cfg):
    datasets = [udata_dataset(n) for n in range(1, 4)]
    search_route(server, datasets)
    source = make_source(server.url + "/api/1/", "dataclic_udata", cfg, org)

    first = run_job(source["id"])
    assert sorted(statuses(first).values()) == ["added"] * 3
    ids = {guid: o["package_id"] for guid, o in first["objects"].items()}
    names = {guid: show(pid)["name"] for guid, pid in ids.items()}

    second = run_job(source["id"])
    assert sorted(statuses(second).values()) == ["not modified"] * 3
    assert second["status"] == "Finished"

    datasets[1] = udata_dataset(2, "2026-02-01T00:00:00+00:00", title="Nouveau titre")
    third = run_job(source["id"])
    changed = datasets[1]["id"]
    assert statuses(third)[changed] == "updated"
    assert [s for g, s in statuses(third).items() if g != changed] == ["not modified"] * 2
    assert show(ids[changed])["title"] == "Nouveau titre"
    assert show(ids[changed])["name"] == names[changed]  # same URL after a change

    gone = datasets.pop(0)["id"]
    fourth = run_job(source["id"])
    assert statuses(fourth)[gone] == "deleted"
    assert show(ids[gone])["state"] == "deleted"
    fifth = run_job(source["id"])
    assert gone not in fifth["objects"]
    assert sorted(statuses(fifth).values()) == ["not modified"] * 2


@pytest.mark.parametrize("listing", [True, False], ids=["listed", "fetched-one-by-one"])
def test_unchanged_records_skip_the_import_stage_but_changes_still_import(
    server, org, cfg, listing
):
    from ckan.tests import helpers
    from ckanext.harvest.model import HarvestObject

    datasets = [udata_dataset(n) for n in range(1, 4)]
    if listing:  # the listing carries the records: unchanged ones are closed at gather
        search_route(server, datasets)
    else:  # each record is fetched: unchanged ones are closed at the fetch stage
        cfg = {"datasets": [d["id"] for d in datasets], "max_retries": 0}
        for d in datasets:
            server.routes[f"/api/1/datasets/{d['id']}/"] = Reply.json(d)
    source = make_source(server.url + "/api/1/", "dataclic_udata", cfg, org)
    first = run_job(source["id"])
    ids = {guid: o["package_id"] for guid, o in first["objects"].items()}
    modified = {guid: show(pid)["metadata_modified"] for guid, pid in ids.items()}

    second = run_job(source["id"])
    assert sorted(statuses(second).values()) == ["not modified"] * 3
    assert second["status"] == "Finished"
    objects = HarvestObject.filter(harvest_job_id=second["job_id"]).all()
    # no import stage ran and the datasets were not written
    assert [o.import_started for o in objects] == [None] * 3
    assert [o.fetch_started is None for o in objects] == [listing] * 3
    assert all(o.current for o in objects)
    assert HarvestObject.filter(current=True).count() == 3
    assert {guid: show(pid)["metadata_modified"] for guid, pid in ids.items()} == modified

    # a dataset deleted by hand is restored; a config change reaches every dataset
    gone = datasets[0]["id"]
    helpers.call_action("package_delete", id=ids[gone])
    third = run_job(source["id"])
    assert statuses(third)[gone] == "updated"
    assert show(ids[gone])["state"] == "active"
    assert sorted(s for g, s in statuses(third).items() if g != gone) == ["not modified"] * 2
    helpers.call_action("harvest_source_patch", id=source["id"],
                        config=json.dumps({**cfg, "default_tags": ["reseau"]}))
    fourth = run_job(source["id"])
    assert sorted(statuses(fourth).values()) == ["updated"] * 3
    assert all("reseau" in {t["name"] for t in show(pid)["tags"]} for pid in ids.values())


def test_datasets_are_listed_under_their_source_right_after_each_job(server, org, cfg):
    from ckan.tests import helpers

    datasets = [udata_dataset(1), udata_dataset(2)]
    search_route(server, datasets)
    source = make_source(server.url + "/api/1/", "dataclic_udata", cfg, org)

    def by_source() -> dict[str, str]:
        # what the harvest source page lists: a search on the source's id
        found = helpers.call_action("package_search",
                                    fq=f'harvest_source_id:"{source["id"]}"')["results"]
        extras = [{e["key"]: e["value"] for e in d["extras"]} for d in found]
        return {e["dataclic_remote_id"]: e["harvest_object_id"] for e in extras}

    first = run_job(source["id"])
    objects = {guid: o["obj_id"] for guid, o in first["objects"].items()}
    assert by_source() == objects
    datasets[0] = udata_dataset(1, "2026-02-01T00:00:00+00:00")
    second = run_job(source["id"])
    assert statuses(second)[datasets[0]["id"]] == "updated"
    # the index names the object that wrote the dataset
    assert by_source()[datasets[0]["id"]] == second["objects"][datasets[0]["id"]]["obj_id"]


def test_keep_mode_marks_instead_of_deleting(server, org, cfg):
    datasets = [udata_dataset(1), udata_dataset(2)]
    search_route(server, datasets)
    source = make_source(server.url, "dataclic_udata", {**cfg, "delete_mode": "keep"}, org)
    first = run_job(source["id"])
    gone = datasets.pop()["id"]
    run_job(source["id"])
    dataset = show(first["objects"][gone]["package_id"])
    assert dataset["state"] == "active"
    assert "dataclic_removed_at_source" in {e["key"] for e in dataset["extras"]}


def test_failure_in_the_middle_of_paging_ends_the_job_and_deletes_nothing(server, org, cfg):
    datasets = [udata_dataset(n) for n in range(1, 6)]
    search_route(server, datasets)
    source = make_source(server.url, "dataclic_udata", cfg, org)
    first = run_job(source["id"])
    assert len(first["objects"]) == 5

    search_route(server, datasets, fail_page=2)
    broken = run_job(source["id"])
    assert broken["status"] == "Finished"
    assert broken["objects"] == {}
    assert "500" in broken["gather_errors"][0] and "page=2" in broken["gather_errors"][0]
    for obj in first["objects"].values():
        assert show(obj["package_id"])["state"] == "active"


def test_one_malformed_record_does_not_stop_the_others(server, org, cfg):
    datasets = [udata_dataset(1), udata_dataset(2, title=None), udata_dataset(3)]
    del datasets[1]["title"]
    search_route(server, datasets)
    source = make_source(server.url, "dataclic_udata", cfg, org)
    report = run_job(source["id"])
    result = statuses(report)
    assert result[datasets[1]["id"]] == "errored"
    assert "malformed remote record" in report["objects"][datasets[1]["id"]]["errors"][0]
    assert [result[datasets[0]["id"]], result[datasets[2]["id"]]] == ["added", "added"]


def test_malformed_json_page_is_a_gather_error(server, org, cfg):
    server.routes["/api/1/datasets/"] = Reply(200, b"<html>oops", {"Content-Type": "text/html"})
    source = make_source(server.url, "dataclic_udata", cfg, org)
    report = run_job(source["id"])
    assert report["status"] == "Finished"
    assert "not valid JSON" in report["gather_errors"][0]


def test_name_collision_and_overlapping_sources(server, org, cfg):
    from ckan.tests import factories

    other = factories.Dataset(name="stations-qualite-air-1", owner_org=org["id"])
    search_route(server, [udata_dataset(1)])
    first_source = make_source(server.url, "dataclic_udata", cfg, org, name="first")
    report = run_job(first_source["id"])
    (obj,) = report["objects"].values()
    dataset = show(obj["package_id"])
    assert dataset["id"] != other["id"]
    assert dataset["name"] == f"stations-qualite-air-1-{dataset['id'][:8]}"

    second_source = make_source(server.url, "dataclic_udata", {**cfg, "tag": "air"}, org,
                                name="second")
    overlap = run_job(second_source["id"])
    (obj2,) = overlap["objects"].values()
    assert obj2["status"] == "errored"
    assert "already harvested by source 'first'" in obj2["errors"][0]


@pytest.mark.parametrize(("config", "url", "named"), [
    ({"organisation": "x"}, "https://www.data.gouv.fr", "organisation"),
    ({"datasets": "not-a-list"}, "https://www.data.gouv.fr", "datasets"),
    ({"tag": "air", "max_pages": "10"}, "https://www.data.gouv.fr", "max_pages"),
    ({"tag": "air", "delete_mode": "purge"}, "https://www.data.gouv.fr", "delete_mode"),
    ("{not json", "https://www.data.gouv.fr", "not valid JSON"),
    ({"tag": "air"}, "ftp://www.data.gouv.fr", "must be an http:// or https:// URL"),
    ({"tag": "air"}, "file:///etc/passwd", "must be an http:// or https:// URL"),
])
def test_bad_source_config_is_refused_on_save(org, config, url, named):
    from ckan.plugins import toolkit

    with pytest.raises(toolkit.ValidationError) as err:
        make_source(url, "dataclic_udata", config, org)
    assert named in json.dumps(err.value.error_dict)


def test_local_copy_stores_files_with_a_cap_and_detects_profiles(server, org, cfg):
    from ckan.lib import uploader

    csv_body = "code_insee;nom;valeur\n33063;Bordeaux;1\n33281;Mérignac;2\n".encode()
    server.routes["/files/stations.csv"] = Reply(200, csv_body, {"Content-Type": "text/csv"})
    server.routes["/files/big.csv"] = Reply(200, b"x;y\n" + b"1;2\n" * 5000)
    data = udata_dataset(1)
    data["resources"] = [
        {"id": "r-small", "title": "stations.csv", "format": "csv",
         "url": f"{server.url}/files/stations.csv"},
        {"id": "r-big", "title": "big.csv", "format": "csv", "url": f"{server.url}/files/big.csv"},
    ]
    search_route(server, [data])
    config = {**cfg, "local_copy": True, "local_copy_max_bytes": 1000}
    source = make_source(server.url, "dataclic_udata", config, org)
    report = run_job(source["id"])
    (obj,) = report["objects"].values()
    assert obj["status"] == "added", obj
    small, big = show(obj["package_id"])["resources"]

    assert small["url_type"] == "upload"
    assert small["dataclic_remote_file_url"].endswith("/files/stations.csv")
    path = uploader.get_resource_uploader(small).get_path(small["id"])
    assert Path(path).read_bytes() == csv_body
    assert json.loads(small["dataclic_profile"])["code_column"] == "code_insee"

    assert big["url"].endswith("/files/big.csv") and not big.get("url_type")
    assert "1000 byte cap" in big["dataclic_local_copy"]
    assert statuses(run_job(source["id"])) == {data["id"]: "not modified"}
