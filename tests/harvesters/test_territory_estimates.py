"""Size estimates of the catalogue's sources for a territory: each API kind asked for a count
with the harvest's own territorial filter, against fixture APIs on 127.0.0.1; unknown (with a
reason) when an API is slow, fails or answers garbage; shown in French on the territory
sources page, its JSON endpoint and `ckan dataclic sources add-territory --dry-run`.

Expected answers are computed here from the fixture rows and the COG's EPCI members."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import pytest

from ckanext.dataclic.harvesters.catalogue import GreenSource
from ckanext.dataclic.harvesters.cli import sources

from . import territorial_fixtures as fx
from .conftest import harvest_marks
from .fixture_server import Reply

pytestmark = [*harvest_marks, pytest.mark.skipif(
    not fx.COG.is_dir(), reason="../shared/data/cog is absent: the COG is the expected answer")]

BM = f"epci:{fx.BORDEAUX_METROPOLE}"
PAGE = "/ckan-admin/dataclic/territory-sources"
SPACES = re.compile("[\u00a0\u202f ]")


def members() -> frozenset[str]:
    return fx.epci_members()


def entry(name: str, harvester: str, url: str, config: dict[str, Any],
          theme: str = "energy") -> GreenSource:
    return GreenSource(name=name, title=name.title(), theme=theme, producer="Test",
                       harvester=harvester, url=url, config=config)


def estimate(source: GreenSource, seconds: float = 60) -> Any:
    """The estimate for Bordeaux Métropole, with no cache involved."""
    import time

    from ckanext.dataclic.harvesters.territorial import referential
    from ckanext.dataclic.harvesters.territory_estimates import _count, settings

    ref = referential()
    return _count(source, ref.resolve(BM), ref, settings(), time.monotonic() + seconds)


# -- fixture APIs that count --------------------------------------------------------------------
def ods_records_route(server: Any, rows: list[dict[str, Any]], ident: str = "arbres") -> None:
    """``/records?limit=0&where=code_commune IN (…)`` → ``total_count``; the metadata too."""
    fx.ods_routes(server, rows, honour=True, ident=ident)
    base = f"/api/explore/v2.1/catalog/datasets/{ident}"

    def records(query: dict[str, list[str]]) -> Reply:
        wanted = set(re.findall(r'"([^"]+)"', query["where"][0])) if "where" in query else None
        chosen = [r for r in rows if wanted is None or r["code_commune"] in wanted]
        limit = int(query.get("limit", ["10"])[0])
        return Reply.json({"total_count": len(chosen), "results": chosen[:limit]})

    server.routes[f"{base}/records"] = records


def wfs_hits_route(server: Any, features: list[dict[str, Any]]) -> None:
    """GetFeature with ``resultType=hits``: an XML FeatureCollection with numberMatched only;
    the filter (``cql_filter`` INTERSECTS, GET or POST) applied like the harvest's fixture."""
    import shapely
    from pyproj import Transformer

    fx.wfs_routes(server, features, honour=True)
    features_route = server.routes["/wfs/ows"]
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)

    def route(query: dict[str, list[str]]) -> Reply:
        if query.get("resultType") != ["hits"]:
            return features_route(query)
        text = query["cql_filter"][0]
        shape = shapely.from_wkt(text[len("INTERSECTS(geom, "):-1])
        matched = sum(shape.intersects(shapely.Point(*to_l93.transform(
            *f["geometry"]["coordinates"]))) for f in features)
        body = (f'<?xml version="1.0"?><wfs:FeatureCollection '
                f'xmlns:wfs="http://www.opengis.net/wfs/2.0" numberMatched="{matched}" '
                f'numberReturned="0" timeStamp="2026-12-06T00:00:00Z"/>')
        return Reply(200, body.encode(), {"Content-Type": "text/xml"})

    server.routes["/wfs/ows"] = route


UDATA_SIZES = {"csv": 3_000_000, "geojson": 1_200_000, "pdf": 5_000}


def udata_sized_routes(server: Any, ident: str = "artif") -> None:
    server.routes[f"/api/1/datasets/{ident}/"] = Reply.json({
        "id": ident, "slug": ident, "title": "Artificialisation", "license": "lov2",
        "resources": [
            {"id": f"r-{fmt}", "title": f"artif.{fmt}", "format": fmt, "filesize": size,
             "url": f"{server.url}/files/artif.{fmt}"} for fmt, size in UDATA_SIZES.items()]})


# -- per API kind --------------------------------------------------------------------------------
def test_each_api_kind_counts_the_territory_with_the_harvest_filter(server):
    from ckanext.dataclic.harvesters.estimates import BYTES, FEATURES, ROWS

    dpe = fx.dpe_lines(per_gironde=4)
    fx.datafair_routes(server, dpe, honour=True)
    stations = fx.stations()
    fx.hubeau_routes(server, stations, honour=True)
    installations = fx.installations()
    fx.georisques_routes(server, installations, honour=True)
    ods_rows = fx.ods_rows()
    ods_records_route(server, ods_rows)
    features = fx.wfs_features()
    wfs_hits_route(server, features)
    udata_sized_routes(server)
    inside = members()

    cases = {
        "datafair": (entry("dpe", "dataclic_datafair", f"{server.url}/data-fair/api/v1",
                           {"datasets": ["dpe03existant"]}),
                     sum(r["code_insee_ban"] in inside for r in dpe), ROWS),
        "hubeau": (entry("stations", "dataclic_hubeau", f"{server.url}/api",
                         {"endpoints": ["v2/hydrometrie/referentiel/stations"]}),
                   sum(s["code_commune_station"] in inside for s in stations), ROWS),
        "georisques": (entry("icpe", "dataclic_georisques", f"{server.url}/api",
                             {"endpoints": ["v1/installations_classees"],
                              "params": {"departement": "33"}}),
                       sum(r["codeInsee"] in inside for r in installations), ROWS),
        "ods": (entry("arbres", "dataclic_ods", server.url, {"datasets": ["arbres"]}),
                sum(r["code_commune"] in inside for r in ods_rows), ROWS),
        "wfs": (entry("znieff", "dataclic_wfs", f"{server.url}/wfs/ows",
                      {"layer_prefixes": ["patrinat_znieff"], "server_filter": "intersects"}),
                sum(f["properties"]["commune"] in inside for f in features), FEATURES),
        "udata": (entry("artif", "dataclic_udata", server.url, {"datasets": ["artif"]}),
                  UDATA_SIZES["csv"] + UDATA_SIZES["geojson"], BYTES),
    }
    for kind, (source, expected, unit) in cases.items():
        found = estimate(source)
        assert found.known, (kind, found)
        assert (found.value, found.unit) == (expected, unit), kind
        assert expected > 0, kind
    # Counts, not data: no request asked for more than one row.
    asked = [parse_qs(path.partition("?")[2]) for path in server.requests]
    assert all(q.get("size", ["0"])[0] in ("0", "1") for q in asked if "size" in q)
    assert all(q["limit"] == ["0"] for q in asked if "limit" in q)
    # The WFS polygon is long: sent by POST, as the harvest does.
    assert any("cql_filter=" in form for _path, form in server.posts)


def test_georisques_ignoring_the_filter_is_unknown_not_france(server):
    from ckanext.dataclic.harvesters.estimates import IGNORED

    fx.georisques_routes(server, fx.installations(), honour=False)
    found = estimate(entry("icpe", "dataclic_georisques", f"{server.url}/api",
                           {"endpoints": ["v1/installations_classees"]}))
    assert not found.known and found.reason == IGNORED


@pytest.mark.ckan_config("ckanext.dataclic.estimates.timeout", "0.5")
def test_slow_failing_or_garbage_apis_are_unknown(server):
    from ckanext.dataclic.harvesters.estimates import ERROR, NO_COUNT, TIMEOUT

    base = "/api/v2/hydrometrie/referentiel/stations"
    server.routes[base] = Reply.json({"count": 3, "data": []}, delay=5)
    server.routes["/broken/v1/installations_classees"] = Reply.json({"message": "boom"}, 500)
    server.routes["/garbage/v1/installations_classees"] = Reply(200, b"<html>oops",
                                                                 {"Content-Type": "text/html"})
    server.routes["/nocount/v1/installations_classees"] = Reply.json({"data": []})
    slow = estimate(entry("slow", "dataclic_hubeau", f"{server.url}/api",
                          {"endpoints": ["v2/hydrometrie/referentiel/stations"]}))
    assert not slow.known and slow.reason == TIMEOUT
    for prefix, reason in (("broken", ERROR), ("garbage", ERROR), ("nocount", NO_COUNT)):
        found = estimate(entry(prefix, "dataclic_georisques", f"{server.url}/{prefix}",
                               {"endpoints": ["v1/installations_classees"]}))
        assert not found.known and found.reason == reason, (prefix, found)
    # One request per commune, each slow: the source stops when its time is up.
    server.routes["/slowly/v1/gaspar/catnat"] = Reply.json({"results": 0, "data": []},
                                                           delay=0.3)
    looped = estimate(entry("catnat", "dataclic_georisques", f"{server.url}/slowly",
                            {"endpoints": ["v1/gaspar/catnat"]}), seconds=1)
    assert not looped.known and looped.reason == TIMEOUT
    assert len([p for p in server.requests if p.startswith("/slowly/")]) < len(members())


# -- page, endpoint and command ------------------------------------------------------------------
@pytest.fixture
def fixture_catalogue(server, monkeypatch):
    """A catalogue whose sources live on the fixture server (the national APIs are out of
    reach): a data-fair source that counts, a udata one with file sizes, a Hub'Eau one that
    answers garbage, a data-fair one whose server fails, a Hub'Eau one too slow."""
    # Every module that holds load_catalogue is imported before any patch: a module first
    # imported under the patch would keep the test's catalogue after it.
    from ckanext.dataclic.harvesters import catalogue, territory_estimates, territory_sources

    dpe = fx.dpe_lines(per_gironde=450)
    fx.datafair_routes(server, dpe, honour=True)
    udata_sized_routes(server)
    server.routes["/api/v1/ecoulement/stations"] = Reply(200, b"not json", {})
    server.routes["/api/v1/niveaux_nappes/stations"] = Reply.json({"count": 1, "data": []},
                                                                   delay=5)
    entries = [
        entry("dpe-test", "dataclic_datafair", f"{server.url}/data-fair/api/v1",
              {"datasets": ["dpe03existant"]}),
        entry("artif-test", "dataclic_udata", server.url, {"datasets": ["artif"]}, "land-use"),
        entry("onde-test", "dataclic_hubeau", f"{server.url}/api",
              {"endpoints": ["v1/ecoulement/stations"]}, "water"),
        entry("down-test", "dataclic_datafair", f"{server.url}/down/api/v1",
              {"datasets": ["nothing"]}),
        entry("slow-test", "dataclic_hubeau", f"{server.url}/api",
              {"endpoints": ["v1/niveaux_nappes/stations"]}, "water"),
    ]
    monkeypatch.setattr(catalogue, "load_catalogue", lambda: list(entries))
    monkeypatch.setattr(territory_estimates, "load_catalogue", lambda: list(entries))
    monkeypatch.setattr(territory_sources, "load_catalogue", lambda: list(entries))
    rows = sum(r["code_insee_ban"] in members() for r in dpe)
    assert rows > 10_000  # a thousands separator to write
    return {"rows": rows, "bytes": UDATA_SIZES["csv"] + UDATA_SIZES["geojson"]}


def french_number(value: int) -> str:
    return f"{value:,}".replace(",", " ")


@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BM)
@pytest.mark.ckan_config("ckanext.dataclic.estimates.timeout", "1")
def test_page_and_endpoint_show_french_estimates_and_unknown(app, fixture_catalogue):
    from ckan.tests import factories

    sysadmin = factories.SysadminWithToken()
    headers = {"Authorization": sysadmin["token"]}
    # The page renders without asking any API: placeholders, and the endpoint's address.
    first = app.get("/fr" + PAGE, headers=headers).get_data(as_text=True)
    assert first.count('data-pending="true"') == 5
    assert "estimates" in first and "territory-estimates.js" in first
    # The endpoint answers every source, in French.
    answer = app.get(f"/fr{PAGE}/estimates", headers=headers,
                     query_string={"perimeter": BM}).json
    assert answer["territory"] == BM
    found = answer["estimates"]
    rows = fixture_catalogue["rows"]
    assert SPACES.sub(" ", found["dpe-test"]["label"]) == f"≈ {french_number(rows)} lignes"
    assert found["dpe-test"]["value"] == rows
    megabytes = f"{fixture_catalogue['bytes'] / 1e6:.1f}".replace(".", ",")
    assert SPACES.sub(" ", found["artif-test"]["label"]) == f"≈ {megabytes} Mo"
    for name in ("onde-test", "down-test", "slow-test"):
        assert found[name]["known"] is False and found[name]["label"] == "inconnue", found[name]
        assert found[name]["title"]  # the reason, for the tooltip
    assert "API" in found["down-test"]["title"]
    assert "n'a pas répondu à temps (1 s par requête)" in found["slow-test"]["title"]
    # Now cached: the page shows them at once, with the reason as a tooltip.
    again = app.get("/fr" + PAGE, headers=headers).get_data(as_text=True)
    assert 'data-pending="true"' not in again
    assert f"≈ {french_number(rows)} lignes" in SPACES.sub(" ", again)
    assert f"≈ {megabytes} Mo" in SPACES.sub(" ", again)
    assert again.count('data-known="false"') == 3
    # English, for an English page.
    english = app.get(f"{PAGE}/estimates", headers=headers, query_string={
        "perimeter": BM, "source": "dpe-test"}).json["estimates"]
    assert list(english) == ["dpe-test"]
    assert english["dpe-test"]["label"] == f"≈ {rows:,} rows"


def test_endpoint_refuses_non_sysadmins_and_bad_territories(app, fixture_catalogue):
    from ckan.tests import factories

    user = factories.UserWithToken()
    app.get(f"{PAGE}/estimates", headers={"Authorization": user["token"]}, status=403)
    sysadmin = factories.SysadminWithToken()
    bad = app.get(f"/fr{PAGE}/estimates", headers={"Authorization": sysadmin["token"]},
                  query_string={"perimeter": "epci:999999999"}, status=400).json
    assert "Territoire inconnu" in bad["error"]


def test_every_api_down_the_page_and_endpoint_still_answer_unknown(app, server, monkeypatch):
    """The shipped catalogue, national hosts out of reach: the page renders and the endpoint
    says unknown for every source."""
    from ckan.tests import factories

    sysadmin = factories.SysadminWithToken()
    headers = {"Authorization": sysadmin["token"]}
    page = app.get(PAGE, headers=headers, query_string={"perimeter": "commune:33063"})
    assert page.status_code == 200
    answer = app.get(f"{PAGE}/estimates", headers=headers,
                     query_string={"perimeter": "commune:33063"}).json["estimates"]
    from ckanext.dataclic.harvesters.catalogue import load_catalogue

    assert sorted(answer) == sorted(e.name for e in load_catalogue())
    assert all(v["known"] is False and v["label"] == "unknown" and v["title"]
               for v in answer.values()), answer


@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BM)
@pytest.mark.ckan_config("ckanext.dataclic.estimates.timeout", "1")
def test_add_territory_dry_run_prints_the_estimates_and_creates_nothing(cli, fixture_catalogue):
    result = cli.invoke(sources, ["add-territory", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if "-test" in line}
    rows = fixture_catalogue["rows"]
    assert f"≈ {rows:,} rows" in lines["dpe-test"]
    assert "unknown" in lines["down-test"]
    assert "Dry run" in result.output
    from ckan import model
    from ckanext.harvest.model import HarvestSource

    assert model.Session.query(HarvestSource).count() == 0
