"""Anonymous visitors are rate limited over a time window (never locked out), the client
is the address a trusted proxy forwards, and the storage cap evicts the least recently used
results as new ones arrive."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from ckan.tests import factories

from ckanext.dataclic.extraction import service
from ckanext.dataclic.extraction.admission import client_address
from ckanext.dataclic.model import extraction as store

from .conftest import communes_csv, gironde_and_landes, run_jobs, upload

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")

RATE = "ckanext.dataclic.extract.anonymous_rate_limit"
WINDOW = "ckanext.dataclic.extract.anonymous_rate_window"
PROXIES = "ckanext.dataclic.extract.trusted_proxies"


@pytest.fixture()
def resource(org):
    dataset = factories.Dataset(owner_org=org["id"], title="Population")
    found = factories.Resource(package_id=dataset["id"], name="population.csv",
                               upload=upload(communes_csv(gironde_and_landes()), "p.csv"))
    run_jobs()
    return found


def ask(app, resource, perimeter, *, lang="", forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    # The address a WSGI server gives every request (CKAN 2.11's test client sets none).
    return app.post(f"{lang}/api/3/action/dataclic_extract", headers=headers,
                    environ_base={"REMOTE_ADDR": "127.0.0.1"}, json={
                        "resource_id": resource["id"], "perimeter": perimeter,
                        "format": "csv"})


def test_client_address_trusts_x_forwarded_for_only_from_trusted_proxies():
    trusted = ["10.0.0.0/8", "192.0.2.1"]
    assert client_address("198.51.100.7", "203.0.113.9", trusted) == "198.51.100.7"
    assert client_address("192.0.2.1", "203.0.113.9", trusted) == "203.0.113.9"
    # A chain through two trusted proxies: the right-most untrusted hop; what a client
    # wrote before it (a forged first entry) is not believed.
    assert client_address("10.1.2.3", "1.1.1.1, 203.0.113.9, 10.9.9.9",
                          trusted) == "203.0.113.9"
    assert client_address("10.1.2.3", "not-an-address", trusted) == "10.1.2.3"
    assert client_address("192.0.2.1", "203.0.113.9", []) == "192.0.2.1"


def test_new_extractions_are_rate_limited_cache_hits_are_free(app, resource, ckan_config,
                                                             monkeypatch):
    monkeypatch.setitem(ckan_config, RATE, "2")
    monkeypatch.setitem(ckan_config, WINDOW, "3600")
    first = ask(app, resource, "epci:243300316")
    assert first.status_code == 200 and first.json["result"]["status"] == "done"
    for _ in range(3):  # the same extraction again: answered by the cache, never counted
        again = ask(app, resource, "epci:243300316")
        assert again.status_code == 200 and again.json["result"]["cached"] is True
    assert ask(app, resource, "departement:40").status_code == 200
    refused = ask(app, resource, "departement:33", lang="/fr")
    assert refused.status_code == 409
    message = refused.json["error"]["resource_id"][0]
    # In the page's language, with how long to wait (the window is one hour: the oldest
    # of the two extractions frees its slot in an hour, less the seconds of this test).
    assert "Les visiteurs anonymes peuvent lancer 2 nouvelles extractions en 1 heure" \
        in message, message
    assert "réessayez dans 1 heure" in message or "réessayez dans 60 minutes" in message, \
        message
    english = ask(app, resource, "departement:33").json["error"]["resource_id"][0]
    assert "try again in 1 hour" in english or "try again in 60 minutes" in english
    # Logged-in users are not rate limited.
    user = factories.UserWithToken()
    logged = app.post("/api/3/action/dataclic_extract", headers={"Authorization": user["token"]},
                      json={"resource_id": resource["id"], "perimeter": "departement:33",
                            "format": "csv"})
    assert logged.status_code == 200


def test_a_refused_visitor_is_let_in_again_when_the_window_moves(app, resource, ckan_config,
                                                                 monkeypatch):
    monkeypatch.setitem(ckan_config, RATE, "1")
    monkeypatch.setitem(ckan_config, WINDOW, "2")
    assert ask(app, resource, "epci:243300316").status_code == 200
    refused = ask(app, resource, "departement:40")
    assert refused.status_code == 409
    assert "try again in 2 seconds" in refused.json["error"]["resource_id"][0] or \
        "try again in 1 second" in refused.json["error"]["resource_id"][0]
    deadline = time.monotonic() + 60
    while True:
        answer = ask(app, resource, "departement:40")
        if answer.status_code == 200:
            break
        assert time.monotonic() < deadline, "the visitor was never let in again"
        time.sleep(0.3)
    assert answer.json["result"]["status"] == "done"


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(app, resource, ckan_config,
                                                          monkeypatch):
    monkeypatch.setitem(ckan_config, RATE, "1")
    # Not trusted: the header is ignored, every request is the test client's 127.0.0.1.
    assert ask(app, resource, "epci:243300316", forwarded="203.0.113.1").status_code == 200
    assert ask(app, resource, "departement:40", forwarded="203.0.113.2").status_code == 409
    # Behind a trusted proxy, each forwarded visitor has its own allowance.
    monkeypatch.setitem(ckan_config, PROXIES, "127.0.0.1")
    assert ask(app, resource, "departement:40", forwarded="203.0.113.3").status_code == 200
    assert ask(app, resource, "departement:33", forwarded="203.0.113.4").status_code == 200
    assert ask(app, resource, "commune:33063", forwarded="203.0.113.3").status_code == 409


def _size(record_id: str) -> int:
    return store.get_extraction(record_id)["size"]


def test_storage_cap_evicts_the_least_recently_used_results(app, resource, ckan_config,
                                                            monkeypatch):
    user = factories.UserWithToken()

    def extract(perimeter):
        response = app.post("/api/3/action/dataclic_extract",
                            headers={"Authorization": user["token"]},
                            json={"resource_id": resource["id"], "perimeter": perimeter,
                                  "format": "csv"})
        assert response.status_code == 200
        return response.json["result"]

    a = extract("epci:243300316")
    b = extract("departement:40")
    sizes = {r["id"]: Path(store.get_extraction(r["id"])["path"]).stat().st_size
             for r in (a, b)}
    assert sizes[a["id"]] == _size(a["id"]) and sizes[b["id"]] == _size(b["id"])
    # Room for exactly these two results.
    cap = (sizes[a["id"]] + sizes[b["id"]]) / (1024 * 1024)
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.max_total_mb", repr(cap))
    time.sleep(0.01)
    assert extract("epci:243300316")["cached"] is True  # A is used again: B is now the LRU
    c = extract("commune:33063")  # one row: smaller than B
    assert c["status"] == "done"
    assert store.get_extraction(b["id"]) is None  # evicted, with its file
    assert not any(Path(p).name.startswith(b["id"]) for p in
                   (service.settings().storage / "results").rglob("*"))
    for kept in (a, c):
        url = store.get_extraction(kept["id"]) and f"/dataclic/extraction/{kept['id']}/download"
        assert app.get(url, headers={"Authorization": user["token"]}).status_code == 200
    # Asked again, the evicted extraction is simply made again.
    again = extract("departement:40")
    assert again["status"] == "done" and again["id"] != b["id"]


def test_purge_removes_partial_files_of_dead_jobs(app, resource):
    root = service.settings().storage
    dead = root / "results" / "ab" / ".abcdefgh.0123abcd.part.csv"
    dead.parent.mkdir(parents=True, exist_ok=True)
    dead.write_text("half a file")
    fetch = root / "sources" / resource["id"] / "0123.abcdefgh.0a1b2c.tmp.part"
    fetch.parent.mkdir(parents=True, exist_ok=True)
    fetch.write_text("half a download")
    old = time.time() - 3600
    import os

    os.utime(fetch, (old, old))
    result = service.purge()
    assert result.partials == 2
    assert not dead.exists() and not fetch.exists()
