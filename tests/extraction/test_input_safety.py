"""Extraction actions: control characters never give a 500, errors are in the request's
language, input is echoed at most ~200 characters and URL credentials never."""
from __future__ import annotations

import pytest
from ckan.tests import factories

from .conftest import communes_csv, gironde_and_landes, run_jobs, upload

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")


@pytest.fixture()
def resource(org):
    dataset = factories.Dataset(owner_org=org["id"])
    found = factories.Resource(package_id=dataset["id"], name="population.csv",
                               upload=upload(communes_csv(gironde_and_landes()), "p.csv"))
    run_jobs()
    return found


def extract(app, lang="", **data):
    return app.post(f"{lang}/api/3/action/dataclic_extract", json=data)


def test_unknown_perimeter_is_reported_wholly_in_french(app, resource):
    response = extract(app, "/fr", resource_id=resource["id"], perimeter="commune:99999",
                       format="csv")
    assert response.status_code == 409
    [message] = response.json["error"]["perimeter"]
    assert message == ("Ce périmètre est introuvable : Commune '99999' inconnue dans le "
                       "référentiel COG 2026")


@pytest.mark.parametrize("field", ["perimeter", "format", "mode", "out_crs", "resource_id"])
@pytest.mark.parametrize("value", ["epci:24330\x000316", "\x00", "csv\x1f", "x" * 5000])
def test_hostile_extraction_parameters_get_a_clear_error(app, resource, field, value):
    data = {"resource_id": resource["id"], "perimeter": "epci:243300316", "format": "csv",
            field: value}
    response = extract(app, **data)
    assert response.status_code in (404, 409), (field, response.status_code)
    body = response.json
    assert body["success"] is False
    text = str(body["error"])
    assert value[:201] not in text and len(text) < 2000
    preview = app.post("/api/3/action/dataclic_extract_preview", json={
        "resource_id": data["resource_id"], "perimeter": data["perimeter"],
        "mode": data.get("mode", "filter")})
    assert preview.status_code in (200, 404, 409), (field, preview.status_code)
    for action in ("dataclic_extract_show", "dataclic_profile_show"):
        key = "id" if action == "dataclic_extract_show" else "resource_id"
        shown = app.post(f"/api/3/action/{action}", json={key: value})
        assert shown.status_code in (404, 409), (action, shown.status_code)


def test_url_credentials_never_appear_in_messages(app, org, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.allowed_hosts", "")
    dataset = factories.Dataset(owner_org=org["id"])
    secret = factories.Resource(package_id=dataset["id"],
                                url="http://alice:s3cr3t@127.0.0.1:9/data.csv?token=abcdef")
    run_jobs()
    shown = app.post("/api/3/action/dataclic_profile_show",
                     json={"resource_id": secret["id"]}).json["result"]
    assert shown["status"] == "error"
    assert "127.0.0.1" in shown["message"]
    assert "s3cr3t" not in shown["message"] and "alice" not in shown["message"]
    assert "abcdef" not in shown["message"]
