"""What a citizen hits when an extraction cannot be made: the engine's, the remote source's and
the perimeter's messages, stored in English by background jobs, shown wholly in the request's
language (French under /fr/, English otherwise)."""
from __future__ import annotations

import json

import pytest
from ckan.tests import factories

from ckanext.dataclic.model import extraction as store

from .conftest import communes_csv, gironde_and_landes, run_jobs, upload
from .test_publish import CsvServer

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")

# Words of the English templates that must not show in the French messages.
ENGLISH = {"the", "needs", "none", "found", "was", "this", "file", "server", "answered",
           "cannot", "fetch", "host", "resolves", "non-public", "not", "recognised", "binary",
           "content", "resource", "extracted", "no", "and", "were", "is", "it"}


def api(app, action, lang="", status=200, **data):
    response = app.post(f"{lang}/api/3/action/{action}", json=data)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json


def profile_message(app, resource_id, lang=""):
    shown = api(app, "dataclic_profile_show", lang, resource_id=resource_id)["result"]
    assert shown["status"] == "error", shown
    return shown["message"]


def english_words(text: str) -> set[str]:
    return ENGLISH & {w.strip(".,;:()'").lower() for w in text.split()}


def geojson(features: list[tuple[float, float] | None]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"nom": f"site {i}", "valeur": i},
         "geometry": None if xy is None else {"type": "Point", "coordinates": list(xy)}}
        for i, xy in enumerate(features)]}).encode()


@pytest.fixture()
def not_found():
    """A real HTTP server on 127.0.0.1 that answers 404 with an empty body."""
    running = CsvServer(b"", status=404)
    yield running
    running.close()


def test_a_file_without_geometry_asked_to_clip_is_refused_in_french(app, org):
    dataset = factories.Dataset(owner_org=org["id"])
    resource = factories.Resource(package_id=dataset["id"], name="sites.geojson",
                                  upload=upload(geojson([None, None]), "sites.geojson"))
    run_jobs()
    data = {"resource_id": resource["id"], "perimeter": "epci:243300316", "mode": "clip",
            "format": "geojson"}
    [french] = api(app, "dataclic_extract", "/fr", status=409, **data)["error"]["resource_id"]
    assert french == ("Cette ressource ne peut pas être extraite : Ni colonne de code commune "
                      "ni géométrie n'ont été trouvées dans ce fichier ; il ne peut donc pas "
                      "être découpé selon un territoire")
    [english] = api(app, "dataclic_extract", status=409, **data)["error"]["resource_id"]
    assert english.startswith("This resource cannot be extracted: No commune-code column and "
                              "no geometry were found in this file")


def test_the_engine_refusing_a_clip_without_geometry_speaks_french(app, org, ckan_config,
                                                                   monkeypatch):
    """The profile changed (a new file without geometry) while the extraction waited in the
    queue: the worker's engine refuses the clip; the record tells why in the reader's
    language."""
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.sync_max_bytes", "1")
    dataset = factories.Dataset(owner_org=org["id"])
    points = geojson([(-0.5792, 44.8378), (-0.6, 44.85), (2.35, 48.85)])
    resource = factories.Resource(package_id=dataset["id"], name="sites.geojson",
                                  upload=upload(points, "sites.geojson"))
    run_jobs()
    record = api(app, "dataclic_extract", resource_id=resource["id"],
                 perimeter="epci:243300316", mode="clip", format="geojson")["result"]
    assert record["status"] == "queued"
    stored = store.get_profile(resource["id"])
    store.save_profile(resource["id"], status="detected",
                       profile={**stored["profile"], "geometry": "none",
                                "geometry_column": None},
                       message=None, content_version=stored["content_version"])
    run_jobs()
    french = api(app, "dataclic_extract_show", "/fr", id=record["id"])["result"]
    assert french["status"] == "failed"
    assert french["error"].startswith("Le mode clip demande une géométrie ; ce fichier n'en "
                                      "contient aucune")
    assert "latitude et de longitude" in french["error"]
    assert not english_words(french["error"]), french["error"]
    english = api(app, "dataclic_extract_show", id=record["id"])["result"]["error"]
    assert english.startswith("The clip mode needs geometry; none was found in this file")


def test_a_remote_url_answering_404_is_reported_in_french(app, org, not_found):
    dataset = factories.Dataset(owner_org=org["id"])
    resource = factories.Resource(package_id=dataset["id"], url=not_found.url)
    run_jobs()
    french = profile_message(app, resource["id"], "/fr")
    assert french == (f"Impossible de récupérer {not_found.url} : le serveur a répondu 404 "
                      "Introuvable")
    english = profile_message(app, resource["id"])
    assert english == f"Cannot fetch {not_found.url}: the server answered 404 Not Found"
    [refused] = api(app, "dataclic_extract", "/fr", status=409, resource_id=resource["id"],
                    perimeter="commune:33063", format="csv")["error"]["resource_id"]
    assert refused.startswith("Cette ressource ne peut pas être extraite : Impossible de "
                              "récupérer")
    assert not english_words(refused.replace(not_found.url, "")), refused


def test_a_refused_remote_host_is_reported_in_french(app, org, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.allowed_hosts", "")
    dataset = factories.Dataset(owner_org=org["id"])
    resource = factories.Resource(package_id=dataset["id"], url="http://127.0.0.1:9/data.csv")
    run_jobs()
    french = profile_message(app, resource["id"], "/fr")
    assert french.startswith("Impossible de récupérer http://127.0.0.1:9/data.csv : l'hôte "
                             "'127.0.0.1' correspond à une adresse non publique (127.0.0.1)")
    assert "ajoutez-le à ckanext.dataclic.extract.allowed_hosts" in french
    words = french.replace("http://127.0.0.1:9/data.csv", "").replace(
        "ckanext.dataclic.extract.allowed_hosts", "")
    assert not english_words(words), french
    english = profile_message(app, resource["id"])
    assert "resolves to a non-public address" in english
    assert "add it to ckanext.dataclic.extract.allowed_hosts" in english


def test_a_file_that_cannot_be_read_is_reported_in_french(app, org):
    dataset = factories.Dataset(owner_org=org["id"])
    resource = factories.Resource(package_id=dataset["id"], name="population.csv",
                                  upload=upload(bytes(range(256)) * 40, "population.csv"))
    run_jobs()
    french = profile_message(app, resource["id"], "/fr")
    assert french.endswith("n'est pas un fichier de données reconnu (contenu binaire)")
    assert not english_words(french), french
    assert profile_message(app, resource["id"]).endswith(
        "is not a recognised data file (binary content)")


def test_a_perimeter_error_in_the_worker_is_shown_in_french(app, org, ckan_config,
                                                            monkeypatch):
    """The perimeter was valid when asked for, unknown when the worker ran (the territory
    referential changed meanwhile)."""
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.sync_max_bytes", "1")
    dataset = factories.Dataset(owner_org=org["id"])
    resource = factories.Resource(package_id=dataset["id"], name="population.csv",
                                  upload=upload(communes_csv(gironde_and_landes()), "p.csv"))
    run_jobs()
    record = api(app, "dataclic_extract", resource_id=resource["id"],
                 perimeter="commune:33063", format="csv")["result"]
    assert record["status"] == "queued"
    with store.engine().begin() as conn:
        conn.exec_driver_sql("UPDATE dataclic_extraction SET perimeter = 'commune:33999' "
                             "WHERE id = %s", (record["id"],))
    run_jobs()
    french = api(app, "dataclic_extract_show", "/fr", id=record["id"])["result"]
    assert french["status"] == "failed"
    assert french["error"] == "Commune '33999' inconnue dans le référentiel COG 2026"
    english = api(app, "dataclic_extract_show", id=record["id"])["result"]["error"]
    assert english == "Unknown commune '33999' in the COG 2026 referential"
