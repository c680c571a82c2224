"""The preview line before a download: from the cache, the engine's index or the coverage
recorded with the profile, without running an extraction (real API, PostgreSQL, RQ)."""
from __future__ import annotations

import json

import pytest
from ckan.tests import factories

from ckanext.dataclic.model import active_referential

from .conftest import communes_csv, gironde_and_landes, run_jobs, upload
from .test_actions import call

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")
RENNES = "commune:35238"
BRETAGNE = "region:53"


@pytest.fixture()
def communes_resource(org):
    dataset = factories.Dataset(owner_org=org["id"], title="Population des communes")
    data = communes_csv(gironde_and_landes(), ["99999;Nowhere;1"])
    resource = factories.Resource(package_id=dataset["id"], name="population.csv",
                                  upload=upload(data, "population.csv"), format="CSV")
    run_jobs()
    return resource


def preview(app, resource, perimeter, status=200, **data):
    response = app.post("/api/3/action/dataclic_extract_preview",
                        json={"resource_id": resource["id"], "perimeter": perimeter, **data})
    body = response.json
    assert response.status_code == status, body
    return body["result"] if status == 200 else body["error"]


def test_the_profile_records_a_bounded_coverage(app, communes_resource):
    shown = call(app, "dataclic_profile_show", resource_id=communes_resource["id"])["result"]
    coverage = shown["profile"]["coverage"]
    ref = active_referential.get()
    gironde = sum(1 for c in ref.communes if c.startswith("33"))
    landes = sum(1 for c in ref.communes if c.startswith("40"))
    assert coverage["departements"] == {"33": gironde, "40": landes, "99": 1}
    assert coverage["rows"] == gironde + landes + 1
    assert "communes" not in coverage          # the API leaves the bitmap out
    assert coverage["bbox"] is None            # no geometry in this file


def test_a_territory_outside_the_file_has_no_rows_before_any_extraction(app,
                                                                       communes_resource):
    for perimeter in (RENNES, BRETAGNE):
        answer = preview(app, communes_resource, perimeter)
        assert answer["rows_estimate"] == 0 and answer["exact"] is True
        assert answer["covered"] is False and answer["source"] == "coverage"
    inside = preview(app, communes_resource, "epci:243300316")
    assert inside["rows_estimate"] == 28 and inside["exact"] is False
    assert inside["covered"] is True and inside["source"] == "coverage"
    # Previews run nothing.
    assert call(app, "dataclic_extract_list",
                resource_id=communes_resource["id"])["result"] == []


def test_an_engine_index_gives_exact_counts(app, communes_resource):
    from ckanext.dataclic.extract.engine import build_index
    from ckanext.dataclic.extraction import service

    resource = service.show_resource(communes_resource["id"])
    stored = call(app, "dataclic_profile_show", resource_id=resource["id"])["result"]
    folder = service.index_dir(resource["id"])
    folder.mkdir(parents=True)
    build_index(service.upload_path(resource), referential=active_referential.get(),
                profile=service.engine_profile(stored["profile"]), index_dir=folder)
    answer = preview(app, communes_resource, "departement:40")
    landes = sum(1 for c in active_referential.get().communes if c.startswith("40"))
    assert answer == {"perimeter": "departement:40", "perimeter_name": "Landes",
                      "mode": "filter", "rows_estimate": landes, "exact": True,
                      "covered": True, "source": "index"}
    assert preview(app, communes_resource, RENNES)["source"] == "index"
    assert preview(app, communes_resource, RENNES)["rows_estimate"] == 0


def test_geometric_modes_use_the_extent(app, org):
    ref = active_referential.get()
    features = [{"type": "Feature", "properties": {"code_commune": code},
                 "geometry": {"type": "Point",
                              "coordinates": list(ref.resolve(f"commune:{code}")
                                                  .geometry.representative_point().coords[0])}}
                for code in ("33063", "33281", "40192")]
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    dataset = factories.Dataset(owner_org=org["id"])
    resource = factories.Resource(package_id=dataset["id"], format="GeoJSON",
                                  upload=upload(data, "points.geojson"))
    run_jobs()
    shown = call(app, "dataclic_profile_show", resource_id=resource["id"])["result"]
    west, south, east, north = shown["profile"]["coverage"]["bbox"]
    assert -1.5 < west < east < 0 and 43.5 < south < north < 45.2
    outside = preview(app, resource, RENNES, mode="intersects")
    assert (outside["rows_estimate"], outside["exact"], outside["covered"]) == (0, True, False)
    inside = preview(app, resource, "epci:243300316", mode="clip")
    assert inside["rows_estimate"] is None and inside["source"] is None
    by_code = preview(app, resource, "epci:243300316", mode="filter")
    assert by_code["rows_estimate"] == 2 and by_code["source"] == "coverage"


def test_bad_previews_are_validation_errors(app, communes_resource):
    error = preview(app, communes_resource, "epci:243300316", status=409, mode="clip")
    assert "filter" in error["mode"][0]
    error = preview(app, communes_resource, "epci:243300316", status=409, mode="nonsense")
    assert "nonsense" in error["mode"][0]
    error = preview(app, communes_resource, "commune:00000", status=409)
    assert error["perimeter"]
    call(app, "dataclic_extract_preview", status=404, resource_id="nope", perimeter=RENNES)


def test_a_corrected_profile_keeps_or_recomputes_its_coverage(app, communes_resource, editor):
    before = call(app, "dataclic_profile_show",
                  resource_id=communes_resource["id"])["result"]["profile"]["coverage"]
    same = call(app, "dataclic_profile_update", user=editor,
                resource_id=communes_resource["id"], profile={"code_column": "code_insee"})
    assert same["result"]["profile"]["coverage"] == before
    changed = call(app, "dataclic_profile_update", user=editor,
                   resource_id=communes_resource["id"],
                   profile={"code_column": "population"})["result"]
    # Populations are not commune codes: the coverage follows the new column.
    assert changed["profile"]["coverage"]["departements"] != before["departements"]
    back = call(app, "dataclic_profile_update", user=editor,
                resource_id=communes_resource["id"],
                profile={"code_column": "code_insee"})["result"]
    assert back["profile"]["coverage"]["departements"]["33"] > 500
    assert preview(app, communes_resource, RENNES)["rows_estimate"] == 0


def test_a_profile_detected_before_coverages_gets_one_at_its_first_preview(app,
                                                                          communes_resource):
    from ckanext.dataclic.model import extraction as store

    record = store.get_profile(communes_resource["id"])
    old = {k: v for k, v in record["profile"].items() if k != "coverage"}
    store.save_profile(communes_resource["id"], status="detected", profile=old, message=None,
                       content_version=record["content_version"])
    assert preview(app, communes_resource, RENNES)["rows_estimate"] == 0
    assert store.get_profile(communes_resource["id"])["profile"]["coverage"]["rows"] > 500


def test_a_correction_of_a_large_file_computes_its_coverage_in_a_job(app, communes_resource,
                                                                     editor, ckan_config,
                                                                     monkeypatch):
    before = call(app, "dataclic_profile_show",
                  resource_id=communes_resource["id"])["result"]["profile"]["coverage"]
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.sync_max_bytes", "0")
    changed = call(app, "dataclic_profile_update", user=editor,
                   resource_id=communes_resource["id"],
                   profile={"code_column": "population"})["result"]
    assert "coverage" not in changed["profile"]   # not read within the request
    run_jobs()
    shown = call(app, "dataclic_profile_show", resource_id=communes_resource["id"])["result"]
    assert shown["profile"]["code_column"] == "population" and shown["corrected"] is True
    after = shown["profile"]["coverage"]
    assert after["rows"] == before["rows"]
    assert after["departements"] != before["departements"]   # the population column's
