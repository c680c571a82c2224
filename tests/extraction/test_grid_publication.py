"""Publication of a grid extraction (issue #16): the grid provenance on the published dataset
and resource, shown in French on the dataset page, and a refresh that repeats the same
variables, labels and threshold when the source file changes."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest
from ckan.tests import factories
from ckan.tests import helpers as ckan_helpers
from extract import grid_fixtures as gf

from ckanext.dataclic.model import extraction as store

from .conftest import run_jobs, upload
from .test_actions import call

pytestmark = pytest.mark.usefixtures("extraction_env", "with_test_worker")

BORDEAUX = "epci:243300316"


@pytest.fixture()
def indicators(org, tmp_path):
    path = gf.horizon_netcdf(tmp_path / "indicateurs.nc")
    dataset = factories.Dataset(owner_org=org["id"], name="indicateurs-drias",
                                title="Indicateurs DRIAS", license_id="etalab-2.0")
    resource = factories.Resource(package_id=dataset["id"], name="Indicateurs DRIAS",
                                  format="NetCDF", upload=upload(path.read_bytes(),
                                                                 "indicateurs.nc"))
    run_jobs()
    return resource


def stats(app, resource, **options):
    record = call(app, "dataclic_extract", resource_id=resource["id"], perimeter=BORDEAUX,
                  mode="stats", format="csv", **options)["result"]
    run_jobs()
    shown = call(app, "dataclic_extract_show", id=record["id"])["result"]
    assert shown["status"] == "done", shown
    return shown


def rows_of(app, url: str) -> list[dict[str, str]]:
    body = app.get(url.replace("http://test.ckan.net", "")).get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(body), delimiter=";"))


def shifted_copy(tmp_path, shift: float):
    """The indicator file with NORTX35 raised by ``shift`` everywhere."""
    import xarray as xr

    source = gf.horizon_netcdf(tmp_path / "before.nc")
    with xr.open_dataset(source, engine="h5netcdf") as ds:
        changed = ds.load()
    changed["NORTX35"] = changed["NORTX35"] + shift
    target = tmp_path / "after.nc"
    changed.to_netcdf(target, engine="h5netcdf")
    return target


def test_a_published_grid_extract_carries_its_grid_provenance(app, editor, org, indicators):
    record = stats(app, indicators, variables=["NORTX35"], labels={"horizon": ["H1", "H2"]},
                   threshold=25)
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["id"])["result"]
    published = call(app, "package_show", user=editor, id=result["package_id"])["result"]
    extras = {e["key"]: e["value"] for e in published["extras"]}
    [resource] = published["resources"]
    for facts in (extras, resource):
        assert facts["dataclic_source_resource"] == indicators["id"]
        assert facts["dataclic_grid"] == "143x134 cells of 8000 x 8000"
        assert facts["dataclic_grid_crs"] == "EPSG:27572"
        assert facts["dataclic_cog_vintage"] == "COG 2026"
        assert facts["dataclic_variables"] == "NORTX35"
        assert json.loads(facts["dataclic_labels"]) == {"horizon": ["H1", "H2"]}
        assert facts["dataclic_threshold"] == "25"
        assert facts["dataclic_grid_method"] == record["report"]["method"]
        assert facts["dataclic_mode"] == "stats"
    # 28 communes + the EPCI, 2 horizons, 6 statistics (mean, min, max, 2 shares, coverage).
    assert resource["dataclic_rows_kept"] == str(29 * 2 * 6)
    assert resource["format"] == "CSV"

    page = app.get(f"/fr/dataset/{published['name']}").get_data(as_text=True)
    box = page[page.index("dataclic-provenance"):]
    for words in ("143 × 134 mailles de 8000 × 8000", "(EPSG:27572)", "Variables",
                  "NORTX35", "Valeurs conservées", "horizon : H1, H2", "Seuil", "25",
                  "Méthode", "Statistiques pondérées par la surface",
                  "Statistiques par commune"):
        assert words in box, words
    # The "Additional Info" table does not repeat what the box shows.
    assert "dataclic_grid" not in page and "dataclic_grid_method" not in page


def test_clip_publication_names_the_grid_without_rows(app, editor, org, indicators):
    record = call(app, "dataclic_extract", resource_id=indicators["id"], perimeter=BORDEAUX,
                  mode="clip", format="netcdf", variables="NORTR")["result"]
    run_jobs()
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["id"])["result"]
    published = call(app, "package_show", user=editor, id=result["package_id"])["result"]
    [resource] = published["resources"]
    assert resource["format"] == "NetCDF"
    assert resource["dataclic_variables"] == "NORTR"
    assert resource["dataclic_threshold"] == "" and resource["dataclic_rows_kept"] == ""
    page = app.get(f"/fr/dataset/{published['name']}").get_data(as_text=True)
    assert "Découper la grille" in page and "Lignes" not in page[
        page.index("dataclic-provenance"):page.index("dataclic-provenance") + 4000]


def test_a_refresh_repeats_the_variables_labels_and_threshold(app, editor, org, indicators,
                                                              tmp_path):
    record = stats(app, indicators, variables=["NORTX35"], labels={"horizon": ["H2"]},
                   threshold=25)
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["id"])["result"]
    run_jobs()
    before = call(app, "resource_show", user=editor, id=result["resource_id"])["result"]
    old = {(r["code"], r["statistic"]): r["value"] for r in rows_of(app, before["url"])}

    ckan_helpers.call_action("resource_patch", id=indicators["id"],
                             upload=upload(shifted_copy(tmp_path, 1.5).read_bytes(),
                                           "indicateurs.nc"))
    run_jobs()   # detection of the new version, then the refresh it enqueues
    item = store.get_publication(result["resource_id"])
    assert item["refresh_status"] == "ok", item["refresh_message"]
    after = call(app, "resource_show", user=editor, id=result["resource_id"])["result"]
    rows = rows_of(app, after["url"])
    assert {r["variable"] for r in rows} == {"NORTX35"}
    assert {r["horizon"] for r in rows} == {"H2"}
    assert {r["statistic"] for r in rows} >= {"share_above", "share_below"}
    new = {(r["code"], r["statistic"]): r["value"] for r in rows}
    for code in ("33063", BORDEAUX):
        assert math.isclose(float(new[(code, "mean")]), float(old[(code, "mean")]) + 1.5,
                            rel_tol=1e-6)
    assert after["dataclic_variables"] == "NORTX35"
    assert json.loads(after["dataclic_labels"]) == {"horizon": ["H2"]}
    assert after["dataclic_threshold"] == "25"
