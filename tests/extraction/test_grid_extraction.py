"""Gridded resources (issue #16) through the real API, PostgreSQL, Redis and RQ: a NetCDF on
the SAFRAN grid with the DRIAS quirks is profiled as a grid, extracted per commune (values
checked against shapely polygon ∩ cell areas) or clipped to NetCDF / GeoTIFF."""
from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from ckan.tests import factories
from extract import grid_fixtures as gf

from .conftest import run_jobs, upload

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")

BORDEAUX = "epci:243300316"


def call(app, action, status=200, lang="", **data):
    response = app.post(f"{lang}/api/3/action/{action}", json=data)
    assert response.status_code == status, response.json
    return response.json


@pytest.fixture()
def queued_only(ckan_config, monkeypatch):
    """Every extraction goes through the queue and the RQ worker (none runs inline)."""
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.sync_max_bytes", "0")


def grid_resource(org, tmp_path, builder, name):
    path = builder(tmp_path / name)
    dataset = factories.Dataset(owner_org=org["id"], title="Indicateurs DRIAS")
    return factories.Resource(package_id=dataset["id"], name=name, format="NetCDF",
                              upload=upload(path.read_bytes(), name))


@pytest.fixture()
def indicators(org, tmp_path):
    resource = grid_resource(org, tmp_path, gf.horizon_netcdf, "indicateurs_drias.nc")
    run_jobs()
    return resource


def wait_done(app, record):
    """Run the queued jobs with the RQ worker, then the record as the widget polls it."""
    run_jobs()
    shown = call(app, "dataclic_extract_show", id=record["id"])["result"]
    assert shown["status"] == "done", shown
    return shown


def download(app, record) -> bytes:
    response = app.get(record["download_url"].replace("http://test.ckan.net", ""))
    assert response.status_code == 200
    return response


def test_a_netcdf_resource_is_profiled_as_a_grid(app, indicators):
    shown = call(app, "dataclic_profile_show", resource_id=indicators["id"])["result"]
    assert shown["status"] == "detected" and shown["grid"] is True
    assert shown["geometric"] is False
    profile = shown["profile"]
    assert profile["kind"] == "grid" and profile["format"] == "netcdf"
    assert profile["crs"] == "EPSG:27572"
    assert (profile["grid"]["nx"], profile["grid"]["ny"]) == (143, 134)
    assert [v["name"] for v in profile["variables"]] == ["NORTX35", "NORTR"]
    assert profile["dimensions"] == {"horizon": ["REF", "H1", "H2", "H3"]}
    assert shown["modes"] == ["stats", "clip"]
    assert shown["formats"] == ["csv", "geojson", "gpkg", "netcdf", "geotiff"]
    assert shown["formats_by_mode"] == {"stats": ["csv", "geojson", "gpkg"],
                                        "clip": ["netcdf", "geotiff"]}
    preview = call(app, "dataclic_extract_preview", resource_id=indicators["id"],
                   perimeter=BORDEAUX)["result"]
    assert preview["mode"] == "stats" and preview["communes"] == 28
    assert preview["layers"] == 8 and preview["covered"] is True


def test_stats_for_an_epci_with_variables_labels_and_threshold(app, indicators, queued_only):
    from ckanext.dataclic.model import active_referential

    record = call(app, "dataclic_extract", resource_id=indicators["id"], perimeter=BORDEAUX,
                  variables=["NORTX35"], labels={"horizon": ["H2", "H3"]},
                  threshold=25)["result"]
    assert record["status"] == "queued" and record["mode"] == "stats"
    assert record["format"] == "csv"
    assert record["options"] == {"variables": ["NORTX35"], "labels": {"horizon": ["H2", "H3"]},
                                 "threshold": 25.0, "wide": False}
    done = wait_done(app, record)
    report = done["report"]
    assert report["kind"] == "grid" and report["communes"] == 28
    assert report["variables"] == ["NORTX35"] and report["layers"] == 2
    assert report["crs"] == "EPSG:27572" and report["threshold"] == 25.0
    response = download(app, done)
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True)), delimiter=";"))
    assert {r["horizon"] for r in rows} == {"H2", "H3"}
    assert {r["variable"] for r in rows} == {"NORTX35"}
    values = {(r["code"], r["horizon"], r["statistic"]): r["value"] for r in rows}
    ref = active_referential.get()
    for h, label in ((2, "H2"), (3, "H3")):
        field = gf.safran_field(h).astype(np.float32).astype(np.float64)[::-1]
        for code in ("33063", "33281"):
            want = gf.expected_stats(ref.commune_geometry(code), "EPSG:27572", 56_000.0,
                                     2_685_000.0, 8_000.0, field, 25.0)
            for stat in ("mean", "min", "max", "share_above", "share_below", "coverage"):
                assert math.isclose(float(values[(code, label, stat)]), want[stat],
                                    rel_tol=1e-6, abs_tol=1e-9), (code, label, stat)


def test_clip_to_netcdf_and_geotiff_masked_outside(app, indicators, queued_only, tmp_path):
    import rasterio
    import xarray as xr

    nc = call(app, "dataclic_extract", resource_id=indicators["id"], perimeter=BORDEAUX,
              mode="clip", format="netcdf", labels={"horizon": ["H1"]})["result"]
    tif = call(app, "dataclic_extract", resource_id=indicators["id"], perimeter=BORDEAUX,
               mode="clip", format="geotiff", variables="NORTR")["result"]
    nc, tif = wait_done(app, nc), wait_done(app, tif)
    assert nc["filename"].endswith(".nc") and tif["filename"].endswith(".tif")
    response = download(app, nc)
    assert response.headers["Content-Type"] == "application/x-netcdf"
    (tmp_path / "clip.nc").write_bytes(response.get_data())
    with xr.open_dataset(tmp_path / "clip.nc") as ds:
        assert list(ds["horizon"].values) == ["H1"]
        values = ds["NORTX35"].isel(horizon=0).values
        assert np.isfinite(values).any() and np.isnan(values).any()  # masked outside
        assert "EPSG" in ds[ds["NORTX35"].attrs["grid_mapping"]].attrs["crs_wkt"] or \
            ds[ds["NORTX35"].attrs["grid_mapping"]].attrs.get("epsg") == "27572"
    response = download(app, tif)
    assert response.headers["Content-Type"] == "image/tiff"
    (tmp_path / "clip.tif").write_bytes(response.get_data())
    with rasterio.open(tmp_path / "clip.tif") as src:
        assert src.crs.to_epsg() == 27572 and src.count == 4
        band = src.read(1, masked=True)
        assert band.mask.any() and not band.mask.all()
        # A kept cell holds the file's value at its centre.
        rows, cols = np.nonzero(~band.mask)
        x, y = src.xy(int(rows[0]), int(cols[0]))
        i, j = round((x - gf.X0) / gf.RES), round((y - gf.Y0) / gf.RES)
        want = (gf.safran_field(0, seed=5.0) * 2).astype(np.float32)[j, i]
        assert band[rows[0], cols[0]] == want


@pytest.mark.parametrize(("options", "field", "french"), [
    ({"variables": ["tasmax"]}, "variables",
     "Pas de variable 'tasmax' dans le fichier ; il a NORTX35, NORTR"),
    ({"labels": {"horizon": ["H9"]}}, "labels",
     "Pas d'étiquette 'H9' dans la dimension 'horizon' ; elle a REF, H1, H2, H3"),
    ({"mode": "clip", "format": "netcdf", "threshold": 30}, "threshold",
     "Un seuil ne s'applique qu'au mode statistiques"),
    ({"threshold": "chaud"}, "threshold", "Le seuil doit être un nombre ; reçu chaud"),
    ({"mode": "clip", "format": "csv"}, "format",
     "Le format csv ne convient pas au mode clip ; formats possibles : netcdf, geotiff"),
    ({"format": "netcdf"}, "format",
     "Le format netcdf ne convient pas au mode stats ; formats possibles : csv, geojson, gpkg"),
    ({"wide": "peut-être"}, "wide", "L'option wide doit valoir vrai ou faux ; reçu peut-être"),
    ({"format": "xlsx"}, "format", ("Format xlsx inconnu ; choisissez parmi csv, geojson, "
                                   "gpkg, shp, parquet, netcdf, geotiff")),
    ({"mode": "filter"}, "mode", ("Le mode filter ne convient pas à cette ressource ; modes "
                                 "possibles : stats, clip")),
    ({"format": "geojson", "wide": True}, "wide",
     "La disposition large ne s'applique qu'au mode statistiques en CSV"),
])
def test_bad_options_are_refused_in_french(app, indicators, options, field, french):
    body = call(app, "dataclic_extract", status=409, lang="/fr",
                resource_id=indicators["id"], perimeter=BORDEAUX, **options)
    assert body["error"][field] == [french]
    from ckanext.dataclic.model import extraction as store

    assert store.list_extractions(resource_id=indicators["id"]) == []


def test_options_are_part_of_the_cache_key(app, indicators):
    first = call(app, "dataclic_extract", resource_id=indicators["id"], perimeter=BORDEAUX,
                 variables="NORTX35")["result"]
    other = call(app, "dataclic_extract", resource_id=indicators["id"], perimeter=BORDEAUX,
                 variables="NORTR")["result"]
    same = call(app, "dataclic_extract", resource_id=indicators["id"], perimeter=BORDEAUX,
                variables=["NORTX35"])["result"]
    assert first["id"] != other["id"]
    assert same["id"] == first["id"] and same["cached"] is True
    # Every label of a dimension is the same extraction as no choice of labels.
    every = call(app, "dataclic_extract", resource_id=indicators["id"], perimeter=BORDEAUX,
                 variables="NORTX35",
                 labels={"horizon": ["REF", "H1", "H2", "H3"]})["result"]
    assert every["id"] == first["id"]
    fewer = call(app, "dataclic_extract", resource_id=indicators["id"], perimeter=BORDEAUX,
                 variables="NORTX35", labels={"horizon": ["REF"]})["result"]
    assert fewer["id"] != first["id"]
    assert fewer["report"]["layers"] == 1 and first["report"]["layers"] == 4


def test_a_file_without_usable_crs_gets_a_translated_error(app, org, editor, tmp_path):
    resource = grid_resource(org, tmp_path,
                             lambda p: gf.drias_netcdf(p, with_crs=False), "sans_crs.nc")
    run_jobs()
    shown = call(app, "dataclic_profile_show", lang="/fr", resource_id=resource["id"])
    shown = shown["result"]
    assert shown["status"] == "error" and shown["grid"] is False
    assert shown["message"].startswith("Pas de SCR utilisable dans ")
    assert "aucune variable grid_mapping" in shown["message"]
    english = call(app, "dataclic_profile_show", resource_id=resource["id"])["result"]
    assert english["message"].startswith("No usable CRS in ")
    refused = call(app, "dataclic_extract", status=409, lang="/fr",
                   resource_id=resource["id"], perimeter=BORDEAUX)
    [message] = refused["error"]["resource_id"]
    assert message.startswith("Cette ressource ne peut pas être extraite") and \
        "Pas de SCR utilisable" in message

    # An editor names the CRS: the grid is detected again, and kept as corrected.
    bad = app.post("/fr/api/3/action/dataclic_profile_update",
                   json={"resource_id": resource["id"], "profile": {"format": "csv"}},
                   headers={"Authorization": editor["token"]})
    assert bad.status_code == 409
    assert bad.json["error"]["profile"] == [
        ("Seuls crs, x_dim, y_dim, index_base peuvent être corrigés dans le profil d'une "
         "ressource en grille")]
    fixed = app.post("/api/3/action/dataclic_profile_update",
                     json={"resource_id": resource["id"], "profile": {"crs": "EPSG:27572"}},
                     headers={"Authorization": editor["token"]})
    assert fixed.status_code == 200, fixed.json
    fixed = fixed.json["result"]
    assert fixed["status"] == "detected" and fixed["grid"] is True and fixed["corrected"]
    assert fixed["profile"]["crs"] == "EPSG:27572"
    assert fixed["profile"]["overrides"] == {"crs": "EPSG:27572"}
    record = call(app, "dataclic_extract", resource_id=resource["id"],
                  perimeter="commune:33063")["result"]
    assert record["status"] == "done" and record["report"]["communes"] == 1


def test_a_drias_text_export_is_a_grid_and_a_worker_failure_is_told_in_french(
        app, org, tmp_path, queued_only):
    """A DRIAS text export uploaded (CKAN keeps it without a suffix) is profiled as a grid;
    an extraction the engine refuses in the worker (a perimeter off the grid) fails with
    its reason in the reader's language, and leaves no file."""
    dataset = factories.Dataset(owner_org=org["id"])
    path = gf.drias_text(tmp_path / "indicateurs.txt")
    resource = factories.Resource(package_id=dataset["id"], name="indicateurs.txt",
                                  upload=upload(path.read_bytes(), "indicateurs.txt"))
    run_jobs()
    shown = call(app, "dataclic_profile_show", resource_id=resource["id"])["result"]
    assert shown["grid"] is True and shown["profile"]["format"] == "drias-text"
    assert shown["profile"]["dimensions"] == {"contexte": ["RCP8.5"],
                                              "periode": ["REF", "H1", "H2"]}
    record = call(app, "dataclic_extract", resource_id=resource["id"],
                  perimeter="departement:974", labels={"periode": ["H2"]})["result"]
    run_jobs()
    french = call(app, "dataclic_extract_show", lang="/fr", id=record["id"])["result"]
    assert french["status"] == "failed"
    assert french["error"].startswith("La grille de ") and "ne couvre pas La Réunion" in \
        french["error"]
    english = call(app, "dataclic_extract_show", id=record["id"])["result"]
    assert english["error"].startswith("The grid of ") and \
        "does not cover La Réunion" in english["error"]
    from ckanext.dataclic.extraction.settings import settings

    assert not [p for p in (settings().storage / "results").rglob("*") if p.is_file()]


def test_ckan_command_takes_the_grid_options(app, indicators):
    """``ckan dataclic extract`` (its click command, run in this app's configuration)."""
    import json

    from click.testing import CliRunner

    from ckanext.dataclic.extraction.commands import extract

    runner = CliRunner()
    result = runner.invoke(extract, [
        indicators["id"], "-t", "commune:33063", "--mode", "stats", "--variables", "NORTR",
        "--labels", "horizon=H1,H3", "--threshold", "30", "--wide"])
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout[:result.stdout.rindex("}") + 1])
    assert view["status"] == "done"
    assert view["options"] == {"variables": ["NORTR"], "labels": {"horizon": ["H1", "H3"]},
                               "threshold": 30.0, "wide": True}
    with open(_result_path(view["id"]), encoding="utf-8") as fh:
        header = fh.readline().strip().split(";")
    assert header[:3] == ["level", "code", "name"]
    assert "NORTR_H1_share_above" in header and "NORTR_H3_mean" in header
    assert not any("_REF_" in h or "_H2_" in h for h in header)
    bad = runner.invoke(extract, [indicators["id"], "-t", "commune:33063", "--labels",
                                  "horizon"])
    assert bad.exit_code != 0 and "--labels takes DIMENSION=LABEL" in bad.output


def _result_path(extraction_id):
    from ckanext.dataclic.model import extraction as store

    return store.get_extraction(extraction_id)["path"]


def test_a_geotiff_resource_gives_stats_for_the_chosen_band(app, org, tmp_path):
    from ckanext.dataclic.model import active_referential

    path, grid = gf.north_up_geotiff(tmp_path / "lambert93.tif")
    dataset = factories.Dataset(owner_org=org["id"])
    resource = factories.Resource(package_id=dataset["id"], name="lambert93.tif",
                                  upload=upload(path.read_bytes(), "lambert93.tif"))
    run_jobs()
    shown = call(app, "dataclic_profile_show", resource_id=resource["id"])["result"]
    assert shown["grid"] is True and shown["profile"]["format"] == "geotiff"
    assert shown["profile"]["crs"] == "EPSG:2154"
    assert shown["profile"]["dimensions"] == {"band": ["scenario_1", "scenario_2"]}
    assert shown["profile"]["variables"][0]["name"] == "lambert93"  # the resource's name
    record = call(app, "dataclic_extract", resource_id=resource["id"],
                  perimeter="commune:33063", labels={"band": ["scenario_2"]},
                  wide=True)["result"]
    assert record["status"] == "done", record
    response = download(app, record)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True)), delimiter=";"))
    [commune] = [r for r in rows if r["code"] == "33063"]
    assert not any("scenario_1" in k for k in commune)
    ref = active_referential.get()
    want = gf.expected_stats(ref.commune_geometry("33063"), "EPSG:2154", grid["x_min"],
                             grid["y_max"], grid["res"],
                             grid["arrays"][1].astype(np.float64))
    variable = shown["profile"]["variables"][0]["name"]
    for stat in ("mean", "min", "max", "coverage"):
        assert math.isclose(float(commune[f"{variable}_scenario_2_{stat}"]), want[stat],
                            rel_tol=1e-6, abs_tol=1e-9), stat


def test_the_input_size_limit_applies_to_grids(app, indicators, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.max_input_bytes", "1000")
    monkeypatch.setitem(ckan_config, "ckanext.dataclic.extract.anonymous_max_input_bytes",
                        "1000")
    body = call(app, "dataclic_extract", status=409, lang="/fr",
                resource_id=indicators["id"], perimeter=BORDEAUX)
    [message] = body["error"]["resource_id"]
    assert message.startswith("Ce fichier est trop volumineux pour être extrait ici (")
    assert message.endswith("octets, limite 1000)")
