"""dataclic_territory_search and dataclic_territory_show through the real API."""
from __future__ import annotations

import time

import pytest


def api(app, action, status=200, **params):
    response = app.get(f"/api/3/action/{action}", query_string=params, status=status)
    return response.json


@pytest.mark.usefixtures("with_plugins", "territory_tables")
class TestTerritorySearch:
    def test_anonymous_autocomplete_by_name_prefix(self, app):
        body = api(app, "dataclic_territory_search", q="bordeaux met")
        assert body["success"] is True
        first = body["result"]["results"][0]
        assert first["id"] == "epci:243300316"
        assert first["name"] == "Bordeaux Métropole"
        assert first["kind_label"] == "Intercommunality (EPCI)"
        assert first["departement"] == {"code": "33", "name": "Gironde"}
        assert body["result"]["vintage"] == "COG 2026"

    def test_kinds_and_limit(self, app):
        body = api(app, "dataclic_territory_search", q="saint", kinds="epci", limit=3)
        results = body["result"]["results"]
        assert len(results) == 3 and {r["kind"] for r in results} == {"epci"}

    def test_post_with_a_list_of_kinds(self, app):
        response = app.post("/api/3/action/dataclic_territory_search",
                            json={"q": "gironde", "kinds": ["departement", "region"]})
        assert [r["id"] for r in response.json["result"]["results"]] == ["departement:33"]

    def test_accents_and_abbreviations(self, app):
        body = api(app, "dataclic_territory_search", q="st emilion")
        assert body["result"]["results"][0]["name"] == "Saint-Émilion"

    def test_french_kind_label(self, app):
        response = app.get("/fr/api/3/action/dataclic_territory_search",
                            query_string={"q": "bordeaux met"})
        assert response.json["result"]["results"][0]["kind_label"] == "Intercommunalité (EPCI)"

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"q": ""}, "q"), ({"q": "x", "limit": "0"}, "limit"), ({"q": "x", "limit": "abc"},
         "limit"), ({"q": "x", "kinds": "canton"}, "kinds")],
    )
    def test_bad_parameters_are_409_naming_the_field(self, app, params, field):
        body = api(app, "dataclic_territory_search", status=409, **params)
        assert body["success"] is False
        assert field in body["error"]


@pytest.mark.usefixtures("with_plugins", "territory_tables")
class TestTerritoryShow:
    def test_show_epci_with_geometry(self, app):
        body = api(app, "dataclic_territory_show", id="epci:243300316", geometry="true")
        result = body["result"]
        assert result["name"] == "Bordeaux Métropole"
        assert len(result["communes"]) == 28
        assert "33110" in result["codes"]
        assert {"kind": "departement", "code": "33", "name": "Gironde",
                "id": "departement:33"} in result["parents"]
        assert result["geometry"]["type"] in ("Polygon", "MultiPolygon")
        minx, miny, maxx, maxy = result["bounds"]
        assert -0.9 < minx < maxx < -0.4 and 44.7 < miny < maxy < 45.1

    def test_show_without_geometry_by_default(self, app):
        result = api(app, "dataclic_territory_show", id="commune:75101")["result"]
        assert "geometry" not in result and result["codes"] == ["75101"]

    @pytest.mark.parametrize(
        ("perimeter", "fragment"),
        [("commune:33 063", "Malformed commune code"), ("epci:1234", "9 digits"),
         ("canton:1", "Unknown perimeter kind"), ("commune:99999", "Unknown commune"),
         ("33063", "no kind")],
    )
    def test_bad_ids_are_409_naming_the_field(self, app, perimeter, fragment):
        body = api(app, "dataclic_territory_show", status=409, id=perimeter)
        assert body["success"] is False
        message = body["error"]["id"][0]
        assert fragment in message and "Accepted forms" in message or fragment in message

    def test_commune_without_contour(self, app):
        result = api(app, "dataclic_territory_show", id="commune:98714", geometry="1")["result"]
        assert result["name"] and result["bounds"] is None and result["geometry"] is None

    def test_missing_id(self, app):
        body = api(app, "dataclic_territory_show", status=409)
        assert "id" in body["error"]


@pytest.mark.usefixtures("with_plugins", "territory_tables")
def test_actions_follow_the_active_vintage_in_the_database(app, cli):
    from ckan.cli.cli import ckan as ckan_command

    assert api(app, "dataclic_territory_search", q="33063")["result"]["vintage"] == "COG 2026"
    result = cli.invoke(ckan_command, ["dataclic", "territories", "load",
                                       "--vintage", "COG 2026 (portal)"])
    assert result.exit_code == 0, result.output
    body = api(app, "dataclic_territory_search", q="bordeaux met")
    assert body["result"]["vintage"] == "COG 2026 (portal)"
    assert body["result"]["results"][0]["id"] == "epci:243300316"
    shown = api(app, "dataclic_territory_show", id="departement:2A", geometry="true")["result"]
    assert shown["vintage"] == "COG 2026 (portal)" and shown["geometry"] is not None
    # API-level search latency (printed; the benchmark figure is in docs/territories.md).
    timings = []
    for query in ("bordeaux", "st emilion", "saint", "la", "33000", "paris", "lyon", "mont"):
        start = time.perf_counter()
        api(app, "dataclic_territory_search", q=query)
        timings.append(time.perf_counter() - start)
    print(f"API search: max {max(timings) * 1000:.1f} ms over {len(timings)} queries")
