"""Territorial harvest (``perimeter`` on a source) through ckanext-harvest's real gather,
fetch and import stages, against fixture APIs that filter, and fixture APIs that ignore the
filters and answer all of France."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from . import territorial_fixtures as fx
from .conftest import harvest_marks, make_source, run_job, show, statuses
from .fixture_server import Reply

pytestmark = [*harvest_marks, pytest.mark.skipif(
    not fx.COG.is_dir(), reason="../shared/data/cog is absent: the COG is the expected answer")]

BM = f"epci:{fx.BORDEAUX_METROPOLE}"


def stored(resource: dict[str, Any]) -> Path:
    from ckan.lib import uploader

    return Path(uploader.get_resource_uploader(resource).get_path(resource["id"]))


def csv_rows(resource: dict[str, Any]) -> list[dict[str, str]]:
    with open(stored(resource), encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def extras(dataset: dict[str, Any]) -> dict[str, str]:
    return {e["key"]: e["value"] for e in dataset["extras"]}


def territorial_log(report: dict[str, Any], guid: str) -> dict[str, Any]:
    from ckanext.harvest.model import HarvestObject

    obj = HarvestObject.get(report["objects"][guid]["obj_id"])
    values = {e.key: e.value for e in obj.extras}
    return json.loads(values["dataclic_territorial_log"])


def harvested_datasets() -> list[str]:
    from ckan import model

    return [p.name for p in model.Session.query(model.Package)
            .filter(model.Package.type == "dataset", model.Package.state == "active")]


def check_provenance(dataset: dict[str, Any], method: str, rows: int) -> None:
    facts = extras(dataset)
    assert facts["dataclic_perimeter"] == BM
    assert facts["dataclic_perimeter_name"] == "Bordeaux Métropole"
    assert facts["dataclic_method"] == method
    assert facts["dataclic_rows_kept"] == str(rows)
    assert facts["dataclic_cog_vintage"] and facts["dataclic_extraction_date"]
    assert facts["dataclic_source_url"].startswith("http://127.0.0.1")
    assert dataset["title"].endswith(" — Bordeaux Métropole")
    national = [r for r in dataset["resources"] if r["url"] == facts["dataclic_source_url"]]
    assert len(national) == 1


# -- configuration --------------------------------------------------------------------------------
@pytest.mark.parametrize(("perimeter", "words"), [
    ("epci:999999999", "999999999"),
    ("nowhere", "perimeter"),
    ("portal", "default_perimeter"),
])
def test_an_unknown_perimeter_is_refused_on_save_naming_the_key(org, perimeter, words):
    from ckan.plugins import toolkit

    with pytest.raises(toolkit.ValidationError) as err:
        make_source("https://data.ademe.fr/data-fair/api/v1", "dataclic_datafair",
                    {"datasets": ["x"], "perimeter": perimeter}, org)
    text = json.dumps(err.value.error_dict, ensure_ascii=False)
    assert "perimeter" in text and words in text


@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BM)
def test_portal_perimeter_and_theme_are_accepted(org):
    source = make_source("https://data.ademe.fr/data-fair/api/v1", "dataclic_datafair",
                         {"datasets": ["x"], "perimeter": "portal", "theme": "energy"}, org)
    assert json.loads(source["config"])["perimeter"] == "portal"


# -- data-fair -------------------------------------------------------------------------------------
@pytest.mark.parametrize("honour", [True, False], ids=["filtering", "ignoring"])
def test_datafair_territorial_harvest(server, org, honour):
    rows = fx.dpe_lines()
    fx.datafair_routes(server, rows, honour=honour)
    expected = sorted(r["numero_dpe"] for r in rows if r["code_insee_ban"] in fx.epci_members())
    source = make_source(server.url + "/data-fair/api/v1", "dataclic_datafair",
                         {"datasets": ["dpe03existant"], "perimeter": BM, "theme": "energy",
                          "page_size": 500}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"dpe03existant": "added"}, report
    dataset = show(report["objects"]["dpe03existant"]["package_id"])
    assert harvested_datasets() == [dataset["name"]]  # the national dataset is not imported
    check_provenance(dataset, "server-filter", len(expected))
    assert extras(dataset)["dataclic_theme"] == "energy"
    data = [r for r in dataset["resources"] if r["format"] == "CSV"]
    assert len(data) == 1
    assert sorted(r["numero_dpe"] for r in csv_rows(data[0])) == expected
    assert "code_insee_ban_in=" in dataset["notes"]
    # the home page's "Data for <territory>" search finds it
    from ckan.tests import helpers

    found = helpers.call_action("package_search", q=f'extras_dataclic_perimeter:"{BM}"')
    assert [d["id"] for d in found["results"]] == [dataset["id"]]

    lines = [parse_qs(urlsplit(r).query) for r in server.requests if "/lines" in r]
    assert all("code_insee_ban_in" in q and "page" not in q for q in lines)
    assert all(q["format"] == ["csv"] for q in lines)  # a third of the bytes of JSON
    log = territorial_log(report, "dpe03existant")
    assert log["method"] == "server-filter" and log["rows_kept"] == len(expected)
    national_bytes = len(fx.csv_text(rows).encode())  # the whole table in CSV
    if honour:
        assert log["rows_received"] == len(expected)
        assert log["bytes"] < 0.05 * national_bytes
        assert len(lines) == 1
    else:  # all of France came back: the local check dropped the rest
        assert log["rows_received"] == len(rows)
        assert log["bytes"] > national_bytes


def test_datafair_csv_pages_headed_by_original_column_names(server, org):
    rows = fx.dpe_lines()
    fx.datafair_routes(server, rows, honour=True, original_names=True)
    expected = sorted(r["numero_dpe"] for r in rows if r["code_insee_ban"] in fx.epci_members())
    source = make_source(server.url + "/data-fair/api/v1", "dataclic_datafair",
                         {"datasets": ["dpe03existant"], "perimeter": BM, "page_size": 40}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"dpe03existant": "added"}, report
    dataset = show(report["objects"]["dpe03existant"]["package_id"])
    check_provenance(dataset, "server-filter", len(expected))
    data = next(r for r in dataset["resources"] if r["format"] == "CSV")
    kept = csv_rows(data)
    assert sorted(r["numero_dpe"] for r in kept) == expected
    assert {r["Code_INSEE_(BAN)"] for r in kept} <= fx.epci_members()


# -- Hub'Eau -------------------------------------------------------------------------------------
@pytest.mark.parametrize("honour", [True, False], ids=["filtering", "ignoring"])
def test_hubeau_territorial_harvest_by_communes(server, org, honour):
    rows = fx.stations()
    fx.hubeau_routes(server, rows, honour=honour)
    expected = sorted(r["code_station"] for r in rows
                      if r["code_commune_station"] in fx.epci_members())
    endpoint = "v2/hydrometrie/referentiel/stations"
    source = make_source(server.url + "/api/", "dataclic_hubeau",
                         {"endpoints": [endpoint], "perimeter": BM, "page_size": 1000}, org)
    report = run_job(source["id"])
    assert statuses(report) == {endpoint: "added"}, report
    dataset = show(report["objects"][endpoint]["package_id"])
    assert harvested_datasets() == [dataset["name"]]
    check_provenance(dataset, "server-filter", len(expected))
    data = [r for r in dataset["resources"] if r["format"] == "CSV"]
    assert sorted(r["code_station"] for r in csv_rows(data[0])) == expected
    queries = [parse_qs(urlsplit(r).query) for r in server.requests if "stations" in r]
    assert all(len(q["code_commune_station"][0].split(",")) <= 200 for q in queries)
    log = territorial_log(report, endpoint)
    if honour:
        assert log["bytes"] < 0.05 * fx.json_size(rows)
    else:
        assert log["rows_received"] == len(rows)


def test_hubeau_departement_splits_nothing_and_a_region_respects_the_code_cap(server, org):
    rows = fx.stations()
    fx.hubeau_routes(server, rows, honour=True, code_cap=3)
    endpoint = "v2/hydrometrie/referentiel/stations"
    gironde = sorted(r["code_station"] for r in rows if r["code_departement"] == "33")
    source = make_source(server.url + "/api/", "dataclic_hubeau",
                         {"endpoints": [endpoint], "perimeter": "departement:33"}, org)
    report = run_job(source["id"])
    dataset = show(report["objects"][endpoint]["package_id"])
    data = [r for r in dataset["resources"] if r["format"] == "CSV"]
    assert sorted(r["code_station"] for r in csv_rows(data[0])) == gironde
    assert all("code_departement=33" in r for r in server.requests if "stations" in r)


# -- WFS --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("honour", "how"), [(True, "bbox"), (True, "intersects"),
                                              (False, "bbox")],
                         ids=["bbox", "intersects-post", "ignoring"])
def test_wfs_territorial_harvest(server, org, honour, how):
    features = fx.wfs_features()
    fx.wfs_routes(server, features, honour=honour)
    members = fx.epci_members()
    expected = sorted(f["id"] for f in features if f["properties"]["commune"] in members)
    assert len(expected) >= 25
    source = make_source(server.url + "/wfs/ows", "dataclic_wfs",
                         {"layers": ["patrinat_znieff1:znieff1"], "perimeter": BM,
                          "server_filter": how, "theme": "biodiversity"}, org)
    report = run_job(source["id"])
    guid = "patrinat_znieff1:znieff1"
    assert statuses(report) == {guid: "added"}, report
    dataset = show(report["objects"][guid]["package_id"])
    assert harvested_datasets() == [dataset["name"]]
    check_provenance(dataset, "server-filter", len(expected))
    formats = {r["format"]: r for r in dataset["resources"]}
    assert {"GeoJSON", "GeoPackage"} <= set(formats)
    geojson = json.loads(stored(formats["GeoJSON"]).read_text())
    assert sorted(f["properties"]["id_site"] for f in geojson["features"]) == sorted(
        f"S{i.removeprefix('site.')}" for i in expected)
    import pyogrio

    info = pyogrio.read_info(stored(formats["GeoPackage"]))
    assert info["features"] == len(expected)
    log = territorial_log(report, guid)
    if how == "intersects":
        assert server.posts and "cql_filter=INTERSECTS" in server.posts[0][1]
    if honour:
        assert log["bytes"] < 0.05 * fx.json_size(features)
    else:
        assert log["rows_received"] == len(features)


def _clip_layer(split: bool = False) -> tuple[list[dict[str, Any]], Any]:
    """Polygons around Bordeaux Métropole (one geometry type, as a ZNIEFF layer): long thin
    triangles from inside to 60 km away and squares astride the border cross it, one small
    square lies inside, two outside (one in the bounding box); and the perimeter's contour,
    the union of its members' commune contours (the COG's EPCI members). Only shapes that
    the border cuts into one piece, unless ``split``: then a band the border cuts in several
    pieces too."""
    import shapely
    from shapely.geometry import mapping

    from ckanext.dataclic.territories import Referential

    contours = Referential.default().contours()
    contour = shapely.union_all([contours[c] for c in sorted(fx.epci_members())])
    centre = contour.representative_point()
    shapes = []
    for n in range(8):
        angle = math.radians(n * 45 + 10)
        x, y = centre.x + 0.8 * math.cos(angle), centre.y + 0.55 * math.sin(angle)
        side = (-0.02 * math.sin(angle), 0.02 * math.cos(angle))
        shapes.append(shapely.Polygon([(centre.x, centre.y), (x, y),
                                       (x + side[0], y + side[1])]))
    border = contour.boundary
    for n in range(4):
        point = border.interpolate(n / 4, normalized=True)
        shapes.append(shapely.box(point.x - 0.01, point.y - 0.01, point.x + 0.01,
                                  point.y + 0.01))
    shapes.append(shapely.box(centre.x - 5e-4, centre.y - 5e-4, centre.x + 5e-4,
                              centre.y + 5e-4))
    shapes.append(shapely.box(2.35, 48.85, 2.36, 48.86))  # Paris
    west, south, _east, _north = contour.bounds
    shapes.append(next(box for box in (shapely.box(west + 0.002 * k, south, west + 0.002 * k
                                                   + 1e-3, south + 1e-3) for k in range(500))
                       if not contour.intersects(box)))
    shapes = [g for g in shapes if g.intersection(contour).geom_type != "MultiPolygon"]
    if split:
        _west, south, east, north = contour.bounds
        shapes.append(next(band for band in (
            shapely.box(west - 0.01, y, east + 0.01, y + 0.003)
            for y in (south + (north - south) * k / 50 for k in range(1, 50)))
            if band.intersection(contour).geom_type == "MultiPolygon"))
    features = [{"type": "Feature", "id": f"zone.{i}", "geometry": mapping(shape),
                 "properties": {"id_zone": f"Z{i}"}} for i, shape in enumerate(shapes)]
    return features, contour


def _shape_routes(server: Any, features: list[dict[str, Any]]) -> None:
    """GetFeature honouring ``bbox`` (EPSG:2154 URN) for any geometry, count/startIndex."""
    import shapely
    from pyproj import Transformer
    from shapely.geometry import shape
    from shapely.ops import transform

    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True).transform
    l93 = [transform(to_l93, shape(f["geometry"])) for f in features]

    def route(query: dict[str, list[str]]) -> Reply:
        if query["request"][0] == "GetCapabilities":
            return Reply(200, fx.CAPABILITIES.encode(), {"Content-Type": "text/xml"})
        x0, y0, x1, y1, _crs = query["bbox"][0].split(",")
        box = shapely.box(float(x0), float(y0), float(x1), float(y1))
        selected = [f for f, g in zip(features, l93, strict=True) if box.intersects(g)]
        start, count = int(query["startIndex"][0]), int(query["count"][0])
        chunk = selected[start:start + count]
        return Reply.json({"type": "FeatureCollection", "numberMatched": len(selected),
                           "numberReturned": len(chunk), "features": chunk})

    server.routes["/wfs/ows"] = route


@pytest.mark.parametrize("split", [False, True], ids=["one-piece", "split-in-pieces"])
def test_wfs_cut_clip_cuts_features_at_the_perimeter_border(server, org, split):
    import shapely
    from shapely.geometry import shape

    features, contour = _clip_layer(split)
    _shape_routes(server, features)
    expected = {}
    for feature in features:
        geometry = shape(feature["geometry"])
        if geometry.intersects(contour):
            expected[feature["properties"]["id_zone"]] = geometry.intersection(contour)
    crossing = [f["properties"]["id_zone"] for f in features
                if shape(f["geometry"]).intersects(contour.boundary)]
    assert len(crossing) >= 6 + split and len(expected) == len(crossing) + 1 < len(features)
    source = make_source(server.url + "/wfs/ows", "dataclic_wfs",
                         {"layers": ["patrinat_znieff1:znieff1"], "perimeter": BM,
                          "cut": "clip", "page_size": 5}, org)
    report = run_job(source["id"])
    guid = "patrinat_znieff1:znieff1"
    assert statuses(report) == {guid: "added"}, report
    dataset = show(report["objects"][guid]["package_id"])
    check_provenance(dataset, "server-filter", len(expected))
    formats = {r["format"]: r for r in dataset["resources"]}
    geojson = json.loads(stored(formats["GeoJSON"]).read_text())
    got = {f["properties"]["id_zone"]: shape(f["geometry"]) for f in geojson["features"]}
    assert sorted(got) == sorted(expected)
    for name, want in expected.items():
        # cut at the border: the kept part only, to GeoJSON's coordinate precision
        assert got[name].geom_type.removeprefix("Multi") == want.geom_type.removeprefix("Multi")
        assert shapely.hausdorff_distance(got[name], want) < 1e-6, name
        assert got[name].area == pytest.approx(want.area, rel=1e-5, abs=1e-10), name
    for name in crossing:  # what crossed the border is smaller than what was sent
        sent = shape(next(f for f in features if f["properties"]["id_zone"] == name)["geometry"])
        assert got[name].area < sent.area * 0.999
    import pyogrio

    assert pyogrio.read_info(stored(formats["GeoPackage"]))["features"] == len(expected)


# -- freshness ----------------------------------------------------------------------------------------
@pytest.fixture
def vintages(harvest_db, migrate_db_for):
    """dataclic's referential tables, with no stored vintage before and after the test."""
    from ckan import model

    from ckanext.dataclic.model import active_referential

    def forget() -> None:
        model.Session.remove()
        with model.meta.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM dataclic_territory_vintage")  # cascades
        active_referential.clear()

    migrate_db_for("dataclic")
    forget()
    yield
    forget()


@pytest.mark.usefixtures("vintages")
def test_reharvest_rewrites_only_what_changed_and_follows_the_referential(server, org,
                                                                          tmp_path):
    rows = fx.dpe_lines()
    fx.datafair_routes(server, rows, honour=True)
    source = make_source(server.url + "/data-fair/api/v1", "dataclic_datafair",
                         {"datasets": ["dpe03existant"], "perimeter": BM}, org)
    first = run_job(source["id"])
    package_id = first["objects"]["dpe03existant"]["package_id"]
    before = show(package_id)

    assert statuses(run_job(source["id"])) == {"dpe03existant": "not modified"}
    assert show(package_id)["metadata_modified"] == before["metadata_modified"]

    outside = next(r for r in rows if r["code_insee_ban"] not in fx.epci_members())
    outside["etiquette_dpe"] = "Z"
    assert statuses(run_job(source["id"])) == {"dpe03existant": "not modified"}

    inside = next(r for r in rows if r["code_insee_ban"] in fx.epci_members())
    inside["etiquette_dpe"] = "Z"
    assert statuses(run_job(source["id"])) == {"dpe03existant": "updated"}
    data = next(r for r in show(package_id)["resources"] if r["format"] == "CSV")
    assert {r["numero_dpe"]: r["etiquette_dpe"] for r in csv_rows(data)}[
        inside["numero_dpe"]] == "Z"

    # A failed rebuild keeps the published data.
    saved = server.routes["/data-fair/api/v1/datasets/dpe03existant/lines"]
    server.routes["/data-fair/api/v1/datasets/dpe03existant/lines"] = Reply.json(
        {"error": "down"}, 404)
    inside["etiquette_dpe"] = "Y"
    failed = run_job(source["id"])
    assert statuses(failed) == {"dpe03existant": "errored"}
    assert {r["numero_dpe"]: r["etiquette_dpe"] for r in csv_rows(data)}[
        inside["numero_dpe"]] == "Z"
    badge = extras(show(package_id))
    assert badge["dataclic_refresh_status"] == "failed"
    assert "404" in badge["dataclic_refresh_message"]
    server.routes["/data-fair/api/v1/datasets/dpe03existant/lines"] = saved
    inside["etiquette_dpe"] = "Z"
    # Same data as before the failure: rewritten once, to clear the failure badge.
    assert statuses(run_job(source["id"])) == {"dpe03existant": "updated"}
    assert extras(show(package_id))["dataclic_refresh_status"] == "ok"
    assert statuses(run_job(source["id"])) == {"dpe03existant": "not modified"}

    # A new vintage moves a neighbouring commune into the EPCI: the next harvest has it.
    newcomer = next(c for c in fx.national_codes()
                    if c.startswith("33") and c not in fx.epci_members())
    newcomer_rows = sorted(r["numero_dpe"] for r in rows if r["code_insee_ban"] == newcomer)
    assert newcomer_rows
    load_moved_commune(tmp_path, newcomer)
    moved = run_job(source["id"])
    assert statuses(moved) == {"dpe03existant": "updated"}
    log = territorial_log(moved, "dpe03existant")
    assert log.get("communes_changed") is True and "rebuilt" in log["message"]
    data = next(r for r in show(package_id)["resources"] if r["format"] == "CSV")
    kept = {r["numero_dpe"] for r in csv_rows(data)}
    assert set(newcomer_rows) <= kept
    assert extras(show(package_id))["dataclic_cog_vintage"] == "COG test moved"
    assert extras(show(package_id))["dataclic_refresh_status"] == "ok"
    assert "dataclic_refresh_message" not in extras(show(package_id))


def load_moved_commune(folder: Path, code: str) -> None:
    """``ckan dataclic territories load`` of the shared COG with ``code`` moved into
    Bordeaux Métropole."""
    from ckanext.dataclic.cli import load as territories_load
    for name in ("communes", "departements", "regions"):
        (folder / f"{name}.json").write_bytes((fx.COG / f"{name}.json").read_bytes())
    epcis = json.loads((fx.COG / "epci.json").read_text(encoding="utf-8"))
    for epci in epcis:
        epci["membres"] = [m for m in epci["membres"] if m["code"] != code]
    for epci in epcis:
        if epci["code"] == fx.BORDEAUX_METROPOLE:
            epci["membres"].append({"code": code, "siren": "", "nom": "Nouvelle"})
    (folder / "epci.json").write_text(json.dumps(epcis), encoding="utf-8")
    # the command's own function, in this app (a CLI run would reload the plugins)
    territories_load.callback(source=str(folder), vintage="COG test moved",
                              contour_source=None, contours_vintage=None, code_column=None)


# -- Géorisques ------------------------------------------------------------------------------------
@pytest.mark.parametrize("honour", [True, False], ids=["filtering", "ignoring"])
def test_georisques_territorial_harvest_checks_every_row(server, org, honour):
    rows = fx.installations()
    fx.georisques_routes(server, rows, honour=honour)
    expected = sorted(r["codeAIOT"] for r in rows if r["codeInsee"] in fx.epci_members())
    endpoint = "v1/installations_classees"
    source = make_source(server.url + "/api/", "dataclic_georisques",
                         {"endpoints": [endpoint], "perimeter": BM, "page_size": 1000}, org)
    report = run_job(source["id"])
    assert statuses(report) == {endpoint: "added"}, report
    dataset = show(report["objects"][endpoint]["package_id"])
    check_provenance(dataset, "server-filter", len(expected))
    data = [r for r in dataset["resources"] if r["format"] == "CSV"]
    assert sorted(r["codeAIOT"] for r in csv_rows(data[0])) == expected  # no duplicate
    asked = [parse_qs(urlsplit(r).query) for r in server.requests if "installations" in r]
    assert {q["code_insee"][0] for q in asked} == set(fx.epci_members())
    log = territorial_log(report, endpoint)
    if honour:
        assert log["bytes"] < 0.05 * fx.json_size(rows)


def test_georisques_departement_parameter(server, org):
    rows = fx.installations()
    fx.georisques_routes(server, rows, honour=True)
    endpoint = "v1/installations_classees"
    source = make_source(server.url + "/api/", "dataclic_georisques",
                         {"endpoints": [endpoint], "perimeter": "departement:33",
                          "page_size": 100}, org)
    report = run_job(source["id"])
    dataset = show(report["objects"][endpoint]["package_id"])
    data = [r for r in dataset["resources"] if r["format"] == "CSV"]
    assert sorted(r["codeAIOT"] for r in csv_rows(data[0])) == sorted(
        r["codeAIOT"] for r in rows if r["codeInsee"].startswith("33"))
    assert all("departement=33" in r for r in server.requests if "installations" in r)


# -- Opendatasoft ------------------------------------------------------------------------------------
@pytest.mark.parametrize("honour", [True, False], ids=["filtering", "ignoring"])
def test_ods_territorial_harvest_uses_exports_with_where(server, org, honour):
    rows = fx.ods_rows()
    fx.ods_routes(server, rows, honour=honour)
    expected = sorted(r["nom"] for r in rows if r["code_commune"] in fx.epci_members())
    source = make_source(server.url + "/api/explore/v2.1", "dataclic_ods",
                         {"datasets": ["arbres"], "perimeter": BM}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"arbres": "added"}, report
    dataset = show(report["objects"]["arbres"]["package_id"])
    assert harvested_datasets() == [dataset["name"]]
    check_provenance(dataset, "server-filter", 2 * len(expected))
    formats = {r["format"]: r for r in dataset["resources"]}
    assert {"CSV", "GeoJSON", "GeoPackage"} <= set(formats)
    assert sorted(r["nom"] for r in csv_rows(formats["CSV"])) == expected
    geojson = json.loads(stored(formats["GeoJSON"]).read_text())
    assert sorted(f["properties"]["nom"] for f in geojson["features"]) == expected
    exports = [r for r in server.requests if "/exports/" in r]
    assert exports and not [r for r in server.requests if "/records" in r]
    assert all("where=code_commune" in r for r in exports)


# -- udata ---------------------------------------------------------------------------------------------
def test_udata_territorial_harvest_cuts_files_locally(server, org):
    rows = fx.installations()
    fx.udata_routes(server, rows)
    expected = sorted(r["codeInsee"] for r in rows if r["codeInsee"] in fx.epci_members())
    source = make_source(server.url + "/api/1", "dataclic_udata",
                         {"datasets": ["artif"], "perimeter": BM}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"artif": "added"}, report
    dataset = show(report["objects"]["artif"]["package_id"])
    check_provenance(dataset, "local-cut", len(expected))
    data = [r for r in dataset["resources"] if r["format"] == "CSV"]
    assert len(data) == 1
    assert sorted(r["insee"] for r in csv_rows(data[0])) == expected
    assert "notice.pdf" in dataset["notes"]
    assert territorial_log(report, "artif")["rows_received"] == len(rows)


def test_hubeau_query_over_the_paging_depth_is_split(server, org):
    """28 communes × 1,000 stations: one query would hold 28,000 rows, past the 20,000-row
    depth of page-number paging; the harvester splits the commune list instead."""
    members = sorted(fx.epci_members())
    rows = [{"code_station": f"S{code}-{n}", "code_commune_station": code,
             "code_departement": "33"} for code in members for n in range(1000)]
    fx.hubeau_routes(server, rows, honour=True)
    endpoint = "v2/hydrometrie/referentiel/stations"
    source = make_source(server.url + "/api/", "dataclic_hubeau",
                         {"endpoints": [endpoint], "perimeter": BM, "page_size": 5000,
                          "max_bytes": 200 * 1024 * 1024}, org)
    report = run_job(source["id"])
    assert statuses(report) == {endpoint: "added"}, report
    dataset = show(report["objects"][endpoint]["package_id"])
    data = [r for r in dataset["resources"] if r["format"] == "CSV"]
    assert len(csv_rows(data[0])) == len(rows)
    pages = [parse_qs(urlsplit(r).query) for r in server.requests if "stations" in r]
    assert all(int(q["page"][0]) * int(q["size"][0]) <= 20000 for q in pages)
    assert len({q["code_commune_station"][0] for q in pages}) >= 3  # whole, then halves


def test_ods_departement_code_list_is_split_into_several_exports(server, org):
    rows = fx.ods_rows()
    fx.ods_routes(server, rows, honour=True)
    expected = sorted(r["nom"] for r in rows if r["code_commune"].startswith("33"))
    source = make_source(server.url + "/api/explore/v2.1", "dataclic_ods",
                         {"datasets": ["arbres"], "perimeter": "departement:33"}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"arbres": "added"}, report
    formats = {r["format"]: r for r in show(report["objects"]["arbres"]["package_id"])[
        "resources"]}
    assert sorted(r["nom"] for r in csv_rows(formats["CSV"])) == expected
    geojson = json.loads(stored(formats["GeoJSON"]).read_text())
    assert sorted(f["properties"]["nom"] for f in geojson["features"]) == expected
    csv_exports = [r for r in server.requests if "/exports/csv" in r]
    assert len(csv_exports) >= 3  # 500+ codes, at most 200 a request


@pytest.mark.parametrize("delete_mode", ["delete", "keep"])
def test_a_dataset_gone_at_the_source_is_deleted_or_kept(server, org, delete_mode):
    rows = fx.dpe_lines(per_gironde=1)
    fx.datafair_routes(server, rows, honour=True, ident="dpe03existant")
    fx.datafair_routes(server, rows, honour=True, ident="dpe02neuf")
    listed = [fx.datafair_meta("dpe03existant"), fx.datafair_meta("dpe02neuf")]
    server.routes["/data-fair/api/v1/datasets"] = lambda q: Reply.json(
        {"count": len(listed), "results": listed})
    source = make_source(server.url + "/data-fair/api/v1", "dataclic_datafair",
                         {"q": "dpe", "perimeter": BM, "delete_mode": delete_mode}, org)
    first = run_job(source["id"])
    assert statuses(first) == {"dpe03existant": "added", "dpe02neuf": "added"}
    gone = first["objects"]["dpe02neuf"]["package_id"]
    listed.pop()
    second = run_job(source["id"])
    assert statuses(second)["dpe02neuf"] == "deleted"
    if delete_mode == "delete":
        assert show(gone)["state"] == "deleted"
    else:
        assert show(gone)["state"] == "active"
        assert "dataclic_removed_at_source" in extras(show(gone))


@pytest.mark.parametrize("honour", [True, False], ids=["filtering", "ignoring"])
def test_hubeau_endpoint_without_commune_parameter_uses_bbox_and_coordinates(server, org,
                                                                             honour):
    """Real-time observations have no commune parameter: ``bbox`` on the server, then each
    row's coordinates against the territory's contours."""
    rows = [{"code_entite": f"O{code}", "longitude": lon, "latitude": lat,
             "resultat_obs": 12.5} for code, lon, lat in fx.commune_points()]
    path = "/api/v2/hydrometrie/observations_tr"

    def route(query: dict[str, list[str]]) -> Reply:
        selected = rows
        if honour and "bbox" in query:
            west, south, east, north = (float(v) for v in query["bbox"][0].split(","))
            selected = [r for r in rows
                        if west <= r["longitude"] <= east and south <= r["latitude"] <= north]
        return Reply.json({"count": len(selected), "data": selected, "next": None})

    server.routes[path] = route
    expected = sorted(f"O{code}" for code, _x, _y in fx.commune_points()
                      if code in fx.epci_members())
    endpoint = "v2/hydrometrie/observations_tr"
    source = make_source(server.url + "/api/", "dataclic_hubeau",
                         {"endpoints": [endpoint], "perimeter": BM}, org)
    report = run_job(source["id"])
    assert statuses(report) == {endpoint: "added"}, report
    dataset = show(report["objects"][endpoint]["package_id"])
    check_provenance(dataset, "server-filter", len(expected))
    data = [r for r in dataset["resources"] if r["format"] == "CSV"]
    assert sorted(r["code_entite"] for r in csv_rows(data[0])) == expected
    assert all("bbox=" in r for r in server.requests if "observations_tr" in r)
