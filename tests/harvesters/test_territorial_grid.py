"""Territorial harvest of gridded climate resources (issue #16): a udata source with a
``perimeter`` that meets a NetCDF or a DRIAS text export publishes the territory's
per-commune statistics (CSV long table, GeoJSON with the commune polygons), never the
national grid. Through ckanext-harvest's real gather, fetch and import stages, against a
udata-like fixture server on 127.0.0.1; expected values from shapely polygon ∩ cell
polygon areas on the embedded contours, one commune and one cell at a time."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from extract import grid_fixtures as gf

from . import territorial_fixtures as fx
from .conftest import harvest_marks, make_source, run_job, show, statuses
from .fixture_server import Reply

pytestmark = [*harvest_marks, pytest.mark.skipif(
    not fx.COG.is_dir(), reason="../shared/data/cog is absent: the COG is the expected answer")]

BM = f"epci:{fx.BORDEAUX_METROPOLE}"
SAFRAN_EDGES = (56_000.0, 2_685_000.0, 8_000.0)  # x_min, y_max, cell size (facts sheet)
HORIZONS = ["REF", "H1", "H2", "H3"]


def stored(resource: dict[str, Any]) -> Path:
    from ckan.lib import uploader

    return Path(uploader.get_resource_uploader(resource).get_path(resource["id"]))


def extras(dataset: dict[str, Any]) -> dict[str, str]:
    return {e["key"]: e["value"] for e in dataset["extras"]}


def territorial_log(report: dict[str, Any], guid: str) -> dict[str, Any]:
    from ckanext.harvest.model import HarvestObject

    obj = HarvestObject.get(report["objects"][guid]["obj_id"])
    return json.loads({e.key: e.value for e in obj.extras}["dataclic_territorial_log"])


def contours() -> dict[str, Any]:
    from ckanext.dataclic.territories import Referential

    return Referential.default().contours()


def north_up(values: np.ndarray) -> np.ndarray:
    """A south-up field as the fixture file stores it (float32), north row first."""
    return values.astype(np.float32).astype(np.float64)[::-1]


def udata_grid_routes(server: Any, files: dict[str, tuple[str, bytes]],
                      ident: str = "drias-indicateurs") -> None:
    """A udata dataset whose resources are ``files`` (name → (udata format, bytes)) plus a
    PDF notice; the files are served from /files/<name>."""
    resources = [{"id": f"r-{n}", "title": name, "format": fmt,
                  "url": f"{server.url}/files/{name}"}
                 for n, (name, (fmt, _b)) in enumerate(files.items())]
    resources.append({"id": "r-doc", "title": "notice.pdf", "format": "pdf",
                      "url": f"{server.url}/files/notice.pdf"})
    server.routes[f"/api/1/datasets/{ident}/"] = Reply.json({
        "id": ident, "slug": ident, "title": "Indicateurs DRIAS-2020",
        "description": "Indicateurs climatiques par horizon", "license": "lov2",
        "tags": ["climat"], "page": f"{server.url}/datasets/{ident}/",
        "organization": {"name": "Météo-France"}, "resources": resources})
    for name, (_fmt, body) in files.items():
        server.routes[f"/files/{name}"] = Reply(200, body, {"Content-Type":
                                                            "application/octet-stream"})
    server.routes["/files/notice.pdf"] = Reply(200, b"%PDF-1.4", {})


def long_csv(resource: dict[str, Any]) -> list[dict[str, str]]:
    with open(stored(resource), encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def check_mean(rows: list[dict[str, str]], code: str, variable: str, label_key: str,
               label: str, field: np.ndarray) -> None:
    want = gf.expected_stats(contours()[code], "EPSG:27572", *SAFRAN_EDGES, field)
    got = {r["statistic"]: r["value"] for r in rows
           if r["code"] == code and r["variable"] == variable and r[label_key] == label}
    for stat in ("mean", "min", "max", "coverage"):
        assert math.isclose(float(got[stat]), want[stat], rel_tol=1e-6, abs_tol=1e-9), (
            code, variable, label, stat, got[stat], want[stat])


def grid_resources(dataset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["format"]: r for r in dataset["resources"] if r["format"] in ("CSV", "GeoJSON")}


@pytest.mark.filterwarnings("ignore:saving variable LambertParisII")
def test_netcdf_resource_becomes_per_commune_statistics_of_the_territory(server, org,
                                                                         tmp_path):
    from ckan.plugins import toolkit

    nc = gf.horizon_netcdf(tmp_path / "indicateurs_drias2020.nc")
    udata_grid_routes(server, {"indicateurs_drias2020.nc": ("netcdf", nc.read_bytes())})
    source = make_source(server.url + "/api/1", "dataclic_udata",
                         {"datasets": ["drias-indicateurs"], "perimeter": BM,
                          "theme": "climate"}, org)
    report = run_job(source["id"])
    guid = "drias-indicateurs"
    assert statuses(report) == {guid: "added"}, report
    dataset = show(report["objects"][guid]["package_id"])
    assert dataset["title"] == "Indicateurs DRIAS-2020 — Bordeaux Métropole"

    # The territory's statistics, never the national grid.
    formats = grid_resources(dataset)
    assert set(formats) == {"CSV", "GeoJSON"}
    assert not [r for r in dataset["resources"]
                if r["format"].lower() in ("netcdf", "nc") or r["url"].endswith(".nc")
                and r.get("url_type") == "upload"]
    rows = long_csv(formats["CSV"])
    members = fx.epci_members()
    assert {r["code"] for r in rows if r["level"] == "commune"} == set(members)
    assert {r["code"] for r in rows if r["level"] == "perimeter"} == {BM}
    assert {r["variable"] for r in rows} == {"NORTX35", "NORTR"}
    assert {r["horizon"] for r in rows} == set(HORIZONS)
    # Every commune (most are smaller than an 8 km cell) gets exact area-weighted values.
    for code in sorted(members):
        check_mean(rows, code, "NORTX35", "horizon", "REF", north_up(gf.safran_field(0)))
    for code in ("33063", "33281"):  # Bordeaux, Mérignac: the other variable and a horizon
        check_mean(rows, code, "NORTR", "horizon", "H3",
                   north_up(gf.safran_field(3, seed=5.0) * 2))

    geojson = json.loads(stored(formats["GeoJSON"]).read_text(encoding="utf-8"))
    features = {f["properties"]["code"]: f for f in geojson["features"]}
    assert set(features) == set(members) | {BM}
    assert features["33063"]["geometry"]["type"] in ("Polygon", "MultiPolygon")

    facts = extras(dataset)
    assert facts["dataclic_method"] == "local-cut" and facts["dataclic_mode"] == "stats"
    assert facts["dataclic_perimeter"] == BM and facts["dataclic_cog_vintage"]
    assert facts["dataclic_theme"] == "climate"
    assert facts["dataclic_source_url"] == f"{server.url}/datasets/drias-indicateurs/"
    assert facts["dataclic_grid"] == "143x134 cells of 8000 x 8000"
    assert facts["dataclic_grid_crs"] == "EPSG:27572"
    assert facts["dataclic_variables"] == "NORTX35 (jour), NORTR (jour)"
    assert json.loads(facts["dataclic_labels"]) == {"horizon": ["REF", "H1", "H2", "H3"]}
    assert "area weights" in facts["dataclic_grid_method"]
    assert "notice.pdf" in dataset["notes"]
    assert "turned into statistics per commune" in dataset["notes"]
    assert [r for r in dataset["resources"] if r["url"] == facts["dataclic_source_url"]]
    found = toolkit.get_action("package_search")(
        {"ignore_auth": True}, {"q": f'extras_dataclic_perimeter:"{BM}"'})
    assert [d["id"] for d in found["results"]] == [dataset["id"]]

    # The weights of the grid are kept for the next harvests.
    weights = Path(toolkit.config["ckan.storage_path"]) / "dataclic-harvest" / "grid-weights"
    assert list(weights.glob("*/grid-*.npz"))

    # Re-harvest, file unchanged: nothing rewritten, the weights read from the cache.
    modified = dataset["metadata_modified"]
    again = run_job(source["id"])
    assert statuses(again) == {guid: "not modified"}, again
    assert show(dataset["id"])["metadata_modified"] == modified
    assert territorial_log(again, guid)["grid_weights_from_cache"] is True

    # A new file version: the statistics are rebuilt from it.
    changed = gf.horizon_netcdf(tmp_path / "v2.nc")
    import xarray as xr

    with xr.open_dataset(changed, engine="h5netcdf") as ds:
        bumped = ds.load()
    bumped["NORTX35"] = bumped["NORTX35"] + 1.0
    bumped.to_netcdf(tmp_path / "v2b.nc", engine="h5netcdf")
    udata_grid_routes(server, {"indicateurs_drias2020.nc": ("netcdf",
                                                            (tmp_path / "v2b.nc").read_bytes())})
    third = run_job(source["id"])
    assert statuses(third) == {guid: "updated"}, third
    rows = long_csv(grid_resources(show(dataset["id"]))["CSV"])
    check_mean(rows, "33063", "NORTX35", "horizon", "REF", north_up(gf.safran_field(0)) + 1.0)


def test_drias_text_export_published_as_csv_is_cut_as_a_grid(server, org, tmp_path):
    text = gf.drias_text(tmp_path / "indicateurs.txt")
    udata_grid_routes(server, {"indicateurs_drias.csv": ("csv", text.read_bytes())},
                      ident="drias-texte")
    source = make_source(server.url + "/api/1", "dataclic_udata",
                         {"datasets": ["drias-texte"], "perimeter": BM}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"drias-texte": "added"}, report
    dataset = show(report["objects"]["drias-texte"]["package_id"])
    formats = grid_resources(dataset)
    assert set(formats) == {"CSV", "GeoJSON"}
    rows = long_csv(formats["CSV"])
    assert list(rows[0])[3:6] == ["variable", "contexte", "periode"]
    assert {r["periode"] for r in rows} == {"REF", "H1", "H2"}
    label_key = "periode"
    # The text holds 6 decimals: expected values from the same rounded numbers.
    h1 = np.round(gf.safran_field(1), 6)[::-1]  # north row first
    for code in ("33063", "33039"):
        check_mean(rows, code, "NORTX35", label_key, "H1", h1)
    assert extras(dataset)["dataclic_grid_format"] == "drias-text"


def test_geotiff_resource_keeps_its_name_and_rewrites_nothing_when_unchanged(server, org,
                                                                          tmp_path):
    """A north-up GeoTIFF in Lambert-93 (5 km cells): its bands become the labels, its file
    name the variable; a re-harvest of the same file is "not modified"."""
    tif, info = gf.north_up_geotiff(tmp_path / "lambert93.tif")
    udata_grid_routes(server, {"lambert93.tif": ("geotiff", tif.read_bytes())},
                      ident="rechauffement")
    source = make_source(server.url + "/api/1", "dataclic_udata",
                         {"datasets": ["rechauffement"], "perimeter": BM}, org)
    report = run_job(source["id"])
    assert statuses(report) == {"rechauffement": "added"}, report
    dataset = show(report["objects"]["rechauffement"]["package_id"])
    rows = long_csv(grid_resources(dataset)["CSV"])
    assert {r["variable"] for r in rows} == {"lambert93"}
    assert {r["band"] for r in rows} == {"scenario_1", "scenario_2"}
    edges = (info["x_min"], info["y_max"], info["res"])
    for band, label in enumerate(["scenario_1", "scenario_2"]):
        for code in ("33063", "33003"):
            want = gf.expected_stats(contours()[code], "EPSG:2154", *edges,
                                     info["arrays"][band].astype(np.float64))
            got = {r["statistic"]: float(r["value"]) for r in rows
                   if r["code"] == code and r["band"] == label}
            for stat in ("mean", "min", "max", "coverage"):
                assert math.isclose(got[stat], want[stat], rel_tol=1e-6), (code, label, stat)
    facts = extras(dataset)
    assert facts["dataclic_grid_crs"] == "EPSG:2154"
    assert facts["dataclic_grid"] == "60x70 cells of 5000 x 5000"
    again = run_job(source["id"])
    assert statuses(again) == {"rechauffement": "not modified"}, again


def test_a_grid_without_crs_fails_clearly_and_publishes_nothing(server, org, tmp_path):
    from ckan.plugins import toolkit

    nc = gf.drias_netcdf(tmp_path / "no_crs.nc", with_crs=False, times=1)
    udata_grid_routes(server, {"no_crs.nc": ("netcdf", nc.read_bytes())}, ident="sans-crs")
    source = make_source(server.url + "/api/1", "dataclic_udata",
                         {"datasets": ["sans-crs"], "perimeter": BM}, org)
    staging = Path(toolkit.config["ckan.storage_path"]) / "dataclic-harvest"
    before = set(staging.glob("tmp*"))
    report = run_job(source["id"])
    obj = report["objects"]["sans-crs"]
    assert obj["status"] == "errored" and not obj["package_id"]
    message = " ".join(obj["errors"])
    assert "No usable CRS" in message and "Traceback" not in message
    assert set(staging.glob("tmp*")) == before  # no staged or half-written file left


@pytest.mark.ckan_config("ckan.locale_default", "fr")
def test_a_grid_error_is_stored_in_the_portal_language(server, org, tmp_path):
    nc = gf.drias_netcdf(tmp_path / "no_crs.nc", with_crs=False, times=1)
    udata_grid_routes(server, {"no_crs.nc": ("netcdf", nc.read_bytes())}, ident="sans-crs")
    source = make_source(server.url + "/api/1", "dataclic_udata",
                         {"datasets": ["sans-crs"], "perimeter": BM}, org)
    obj = run_job(source["id"])["objects"]["sans-crs"]
    assert obj["status"] == "errored" and not obj["package_id"]
    message = " ".join(obj["errors"])
    # The wrapper and the engine's own message, both in French; the values kept.
    assert "Pas de SCR utilisable dans" in message and "Bordeaux Métropole" in message
    assert "No usable CRS" not in message and "Traceback" not in message


@pytest.mark.filterwarnings("ignore:saving variable LambertParisII")
def test_grid_crs_of_the_source_georeferences_a_grid_without_crs(server, org, tmp_path):
    nc = gf.drias_netcdf(tmp_path / "no_crs.nc", with_crs=False, times=2)
    udata_grid_routes(server, {"tasmax_sans_crs.nc": ("netcdf", nc.read_bytes())},
                      ident="sans-crs")
    source = make_source(server.url + "/api/1", "dataclic_udata",
                         {"datasets": ["sans-crs"], "perimeter": BM,
                          "grid_crs": "EPSG:27572"}, org)
    assert json.loads(source["config"])["grid_crs"] == "EPSG:27572"
    report = run_job(source["id"])
    assert statuses(report) == {"sans-crs": "added"}, report
    dataset = show(report["objects"]["sans-crs"]["package_id"])
    assert extras(dataset)["dataclic_grid_crs"] == "EPSG:27572"
    rows = long_csv(grid_resources(dataset)["CSV"])
    times = sorted({r["time"] for r in rows})
    for code in ("33063", "33281"):
        check_mean(rows, code, "tasmaxAdjust", "time", times[1],
                   north_up(gf.safran_field(1)))


@pytest.mark.parametrize("value", ["EPSG:999999", "pas un SCR", True, ""])
def test_a_bad_grid_crs_is_refused_on_save_in_the_user_language(app, org, value):
    from ckan.plugins import toolkit

    # Saved from a French page (/fr/harvest/new): the error is in French.
    with app.flask_app.test_request_context("/fr/harvest/new",
                                            environ_overrides={"CKAN_LANG": "fr"}), \
            pytest.raises(toolkit.ValidationError) as err:
        make_source("https://www.data.gouv.fr/api/1", "dataclic_udata",
                    {"datasets": ["x"], "perimeter": BM, "grid_crs": value}, org)
    text = json.dumps(err.value.error_dict, ensure_ascii=False)
    assert "grid_crs" in text and "système de coordonnées" in text
