"""The "Extract for a territory" panel on a climate grid (issue #16), in a real headless
Chromium against a served portal.

A NetCDF indicator file on the SAFRAN 8 km grid (two variables × four horizons, built by
tests/extract/grid_fixtures.py) is uploaded. The panel offers "Statistiques par commune" and
"Découper la grille", the variables and the horizons; an editor chooses Bordeaux Métropole,
one variable, two horizons and a threshold, downloads the per-commune CSV — whose values
match an independent shapely computation (polygon ∩ cell areas) —, publishes it and finds
the grid provenance on the new dataset; then clips the grid to NetCDF.
"""
from __future__ import annotations

import csv
import io
import json
import math
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from ckan.tests import factories
from ckan.tests.helpers import call_action
from extract import grid_fixtures as gf

from .conftest import detected_profile
from .test_extract_widget import choose, ready_panel, visible, wait

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"   # git-ignored
TIMEOUT = 90
PASSWORD = "Climat-2-7-degres"
SAFRAN_EDGES = (56_000.0, 2_685_000.0, 8_000.0)   # x_min, y_max, cell size (Lambert II)
HORIZONS = ["REF", "H1", "H2", "H3"]
KEPT = ["H1", "H2"]
THRESHOLD = 25.0


@pytest.fixture()
def grid_resource(with_plugins, create_with_upload, migrate_db_for, with_test_worker, tmp_path):
    migrate_db_for("dataclic")
    editor = factories.User(password=PASSWORD)
    organization = factories.Organization(
        name="climat-gironde", title="Climat Gironde",
        users=[{"name": editor["name"], "capacity": "editor"}],
    )
    dataset = factories.Dataset(
        name="indicateurs-drias", title="Indicateurs DRIAS", owner_org=organization["id"],
        license_id="etalab-2.0",
    )
    path = gf.horizon_netcdf(tmp_path / "indicateurs.nc")
    resource = create_with_upload(
        path.read_bytes(), "indicateurs.nc", package_id=dataset["id"],
        name="Indicateurs DRIAS", format="NetCDF",
    )
    profile = detected_profile(resource["id"])
    assert profile["grid"] is True, profile
    return {"dataset": dataset, "resource": resource, "editor": editor,
            "organization": organization}


def log_in(browser, portal: str, name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{portal}/fr/user/login")
    browser.find_element(By.ID, "field-login").send_keys(name)
    browser.find_element(By.ID, "field-password").send_keys(PASSWORD, Keys.ENTER)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".account.authed"), "login failed",
         TIMEOUT)


def checkbox(panel, css: str, value: str):
    from selenium.webdriver.common.by import By

    found = [c for c in panel.find_elements(By.CSS_SELECTOR, css)
             if c.get_attribute("value") == value]
    assert len(found) == 1, (css, value)
    return found[0]


def untick(browser, panel, css: str, value: str) -> None:
    """Untick with the keyboard (focus, Space), as a keyboard user would."""
    from selenium.webdriver.common.keys import Keys

    box = checkbox(panel, css, value)
    assert box.is_selected()
    box.send_keys(Keys.SPACE)
    assert not box.is_selected()


def press(browser, element) -> None:
    """Click ``element`` once it is in the middle of the window (the page is long)."""
    # Instant: Bootstrap's smooth scrolling would still be moving when the click lands.
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def run_queued_jobs() -> None:
    """Extractions too large to run within the request wait for a worker: run it here."""
    from ckan.lib import jobs

    queues = [q.name.split(":")[-1] for q in jobs.get_all_queues()] or ["default"]
    if any(q.count for q in jobs.get_all_queues()):
        jobs.Worker(queues).work(burst=True)


def download(browser, panel):
    """Click Download and wait for the result (or an error); the download link's URL."""
    from selenium.webdriver.common.by import By

    press(browser, panel.find_element(By.CSS_SELECTOR, "button.dataclic-download"))

    def finished(d):
        shown = visible(d, "a.dataclic-download-link")(d) or visible(d, ".dataclic-error")(d)
        if not shown:
            run_queued_jobs()
        return shown

    from selenium.common.exceptions import TimeoutException

    try:
        shown = wait(browser, finished, "no download link", TIMEOUT)
    except TimeoutException:
        status = panel.find_element(By.CSS_SELECTOR, ".dataclic-status").text
        raise AssertionError(f"no result; the panel says {status!r}") from None
    assert "dataclic-download-link" in shown.get_attribute("class"), shown.text
    return shown.get_attribute("href")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read()


def expected(geometry, horizon: int) -> dict:
    """Area-weighted statistics of one commune for NORTX35 at one horizon, cell by cell with
    shapely (the stored file holds float32 values, north-up here)."""
    field = gf.safran_field(horizon).astype(np.float32).astype(np.float64)[::-1]
    return gf.expected_stats(geometry, "EPSG:27572", *SAFRAN_EDGES, field, THRESHOLD)


@pytest.mark.usefixtures("clean_db", "with_plugins")
def test_grid_statistics_clip_and_publication_in_a_real_browser(grid_resource, portal,
                                                                browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from ckanext.dataclic.territories import Referential

    dataset, resource = grid_resource["dataset"], grid_resource["resource"]
    referential = Referential.default()
    members = sorted(referential.resolve("epci:243300316").communes)
    log_in(browser, portal, grid_resource["editor"]["name"])
    page = f"{portal}/fr/dataset/{dataset['name']}/resource/{resource['id']}"
    browser.get(page)
    panel = ready_panel(browser)

    # The grid's modes, the formats of the chosen mode, the variables and the horizons, all
    # ticked; every choice has a label.
    mode = Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-mode"))
    assert [o.text for o in mode.options] == ["Statistiques par commune", "Découper la grille"]
    fmt = Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-format"))
    assert [o.get_attribute("value") for o in fmt.options] == ["csv", "geojson", "gpkg"]
    variables = panel.find_elements(By.CSS_SELECTOR, "fieldset.dataclic-variables "
                                                     "input[type=checkbox]")
    assert [v.get_attribute("value") for v in variables] == ["NORTX35", "NORTR"]
    assert all(v.is_selected() for v in variables)
    horizons = panel.find_elements(By.CSS_SELECTOR, "fieldset[data-dimension=horizon] "
                                                    "input[type=checkbox]")
    assert [h.get_attribute("value") for h in horizons] == HORIZONS
    assert all(h.is_selected() for h in horizons)
    for box in [*variables, *horizons]:
        assert panel.find_element(By.CSS_SELECTOR, f"label[for='{box.get_attribute('id')}']")
    legends = [e.text for e in panel.find_elements(By.CSS_SELECTOR, "fieldset legend")]
    assert "Variables" in legends and "Valeurs de horizon" in legends
    threshold = panel.find_element(By.CSS_SELECTOR, "input.dataclic-threshold")
    assert threshold.is_displayed()

    # Bordeaux Métropole, NORTX35 only, horizons H1 and H2, threshold 25, CSV.
    choose(browser, panel, "bordeaux met", "Bordeaux Métropole")
    untick(browser, panel, ".dataclic-variable", "NORTR")
    for label in ("REF", "H3"):
        untick(browser, panel, ".dataclic-label", label)
    threshold.send_keys("25")
    fmt.select_by_value("csv")
    href = download(browser, panel)
    report = panel.find_element(By.CSS_SELECTOR, ".dataclic-report").text
    ARTIFACTS.mkdir(exist_ok=True)
    panel.screenshot(str(ARTIFACTS / "grid-panel-fr.png"))
    assert "Communes : 28" in report, report
    assert "Variables : NORTX35" in report, report
    assert "Lignes écrites" in report and "Couches : 2" in report, report

    text = fetch(href).decode("utf-8")
    delimiter = ";" if ";" in text.splitlines()[0] else ","
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    assert {r["variable"] for r in rows} == {"NORTX35"}
    assert {r["horizon"] for r in rows} == set(KEPT)
    assert {r["code"] for r in rows if r["level"] == "commune"} == set(members)
    values = {(r["code"], r["horizon"], r["statistic"]): r["value"] for r in rows}
    for code in ("33063", "33249", members[0]):
        geometry = referential.commune_geometry(code)
        for label in KEPT:
            want = expected(geometry, HORIZONS.index(label))
            for stat in ("mean", "min", "max", "share_above", "share_below", "coverage"):
                got = float(values[(code, label, stat)])
                assert math.isclose(got, want[stat], rel_tol=1e-6, abs_tol=1e-9), \
                    (code, label, stat, got, want[stat])

    # Any other choice removes the result at once (no wait).
    press(browser, checkbox(panel, ".dataclic-variable", "NORTR"))
    assert not panel.find_element(By.CSS_SELECTOR, ".dataclic-result").is_displayed()
    press(browser, checkbox(panel, ".dataclic-variable", "NORTR"))   # unticked again
    href = download(browser, panel)   # the same choice: the cached extraction
    assert panel.find_element(By.CSS_SELECTOR, ".dataclic-result").is_displayed()

    # Published to the organisation with the grid's provenance.
    publish = wait(browser, visible(browser, "form.dataclic-publish"), "no publish form",
                   TIMEOUT)
    Select(publish.find_element(By.CSS_SELECTOR, "select.dataclic-org")) \
        .select_by_value(grid_resource["organization"]["id"])
    press(browser, publish.find_element(By.CSS_SELECTOR, "button.dataclic-publish-button"))
    published = wait(browser, visible(browser, "a.dataclic-published-link"), "not published",
                     TIMEOUT)
    name = published.text
    shown = call_action("package_show", id=name)
    facts = next(r for r in shown["resources"] if r.get("dataclic_source_resource"))
    assert facts["dataclic_source_resource"] == resource["id"]
    assert facts["dataclic_grid"] == "143x134 cells of 8000 x 8000"
    assert facts["dataclic_grid_crs"] == "EPSG:27572"
    assert facts["dataclic_cog_vintage"] == referential.vintage
    assert facts["dataclic_variables"] == "NORTX35"
    assert json.loads(facts["dataclic_labels"]) == {"horizon": KEPT}
    assert float(facts["dataclic_threshold"]) == THRESHOLD
    assert "exact cell-coverage" in facts["dataclic_grid_method"]
    assert facts["dataclic_mode"] == "stats"
    press(browser, published)
    box = wait(browser, visible(browser, "section.dataclic-provenance"),
               "the published dataset shows no provenance", TIMEOUT)
    box.screenshot(str(ARTIFACTS / "grid-provenance-fr.png"))
    assert "/fr/dataset/" in browser.current_url
    for words in ("143 × 134 mailles de 8000 × 8000", "EPSG:27572", "NORTX35",
                  "horizon : H1, H2", "Statistiques par commune", "Méthode", "Seuil",
                  "Indicateurs DRIAS"):
        assert words in box.text, (words, box.text)

    # Clip: the formats follow the mode, the threshold goes, the file is a NetCDF of the
    # chosen variable and horizons over the cells meeting the EPCI.
    browser.get(page)
    panel = ready_panel(browser)
    choose(browser, panel, "bordeaux met", "Bordeaux Métropole")
    untick(browser, panel, ".dataclic-variable", "NORTR")
    for label in ("REF", "H3"):
        untick(browser, panel, ".dataclic-label", label)
    Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-mode")).select_by_value("clip")
    fmt = Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-format"))
    assert [o.get_attribute("value") for o in fmt.options] == ["netcdf", "geotiff"]
    assert not panel.find_element(By.CSS_SELECTOR, "input.dataclic-threshold").is_displayed()
    fmt.select_by_value("netcdf")
    href = download(browser, panel)
    report = panel.find_element(By.CSS_SELECTOR, ".dataclic-report").text
    assert "Communes : 28" in report and "Lignes écrites" not in report, report
    clipped = tmp_path / "clip.nc"
    clipped.write_bytes(fetch(href))
    import xarray as xr

    with xr.open_dataset(clipped, engine="h5netcdf") as ds:
        assert "NORTX35" in ds.data_vars and "NORTR" not in ds.data_vars
        assert [str(h) for h in ds["horizon"].values] == KEPT
        # Lambert II x of Bordeaux Métropole's cells: a few cells, not the whole grid.
        assert 1 < ds.sizes["x"] < 20 and 1 < ds.sizes["y"] < 20
        assert np.isfinite(ds["NORTX35"].values).any()


@pytest.fixture()
def geotiff_resource(with_plugins, create_with_upload, migrate_db_for, with_test_worker,
                     tmp_path):
    migrate_db_for("dataclic")
    organization = factories.Organization(name="climat-sud-ouest")
    dataset = factories.Dataset(name="projections-sud-ouest", owner_org=organization["id"])
    path, grid = gf.north_up_geotiff(tmp_path / "projections.tif")
    resource = create_with_upload(path.read_bytes(), "projections.tif",
                                  package_id=dataset["id"], name="Projections", format="GeoTIFF")
    assert detected_profile(resource["id"])["grid"] is True
    return {"dataset": dataset, "resource": resource, "grid": grid}


def outside(perimeter: str, grid: dict) -> list[str]:
    """Communes of ``perimeter`` sharing no area with the GeoTIFF's extent (Lambert-93),
    one polygon at a time with shapely."""
    import shapely
    from pyproj import Transformer
    from shapely.geometry import box

    from ckanext.dataclic.territories import Referential

    referential = Referential.default()
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    extent = box(grid["x_min"], grid["y_max"] - grid["ny"] * grid["res"],
                 grid["x_min"] + grid["nx"] * grid["res"], grid["y_max"])
    codes = []
    for code in referential.resolve(perimeter).communes:
        geometry = shapely.transform(referential.commune_geometry(code),
                                     lambda xy: np.column_stack(to_l93.transform(*xy.T)))
        if geometry.intersection(extent).area == 0:
            codes.append(code)
    return sorted(codes)


@pytest.mark.usefixtures("clean_db", "with_plugins")
def test_grid_panel_in_english_checks_choices_and_names_communes_outside_the_grid(
        geotiff_resource, portal, browser):
    """A GeoTIFF over part of the South-West, in English, for an anonymous visitor: nothing
    starts without a variable; Dordogne's report names its communes the grid misses."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    dataset, resource = geotiff_resource["dataset"], geotiff_resource["resource"]
    browser.get(f"{portal}/en/dataset/{dataset['name']}/resource/{resource['id']}")
    panel = ready_panel(browser)
    mode = Select(panel.find_element(By.CSS_SELECTOR, "select.dataclic-mode"))
    assert [o.text for o in mode.options] == ["Statistics per commune", "Clip the grid"]
    variables = panel.find_elements(By.CSS_SELECTOR, ".dataclic-variable")
    assert len(variables) >= 1 and all(v.is_selected() for v in variables)

    choose(browser, panel, "dordogne", "Dordogne")
    for box in variables:
        press(browser, box)
    press(browser, panel.find_element(By.CSS_SELECTOR, "button.dataclic-download"))
    error = wait(browser, visible(browser, ".dataclic-error"), "no error without a variable")
    assert "Choose at least one variable" in error.text
    assert browser.switch_to.active_element == variables[0]
    assert not call_action("dataclic_extract_list", resource_id=resource["id"])

    for box in variables:
        press(browser, box)
    assert not error.is_displayed(), "a new choice leaves the old error on screen"
    download(browser, panel)
    report = panel.find_element(By.CSS_SELECTOR, ".dataclic-report").text
    missed = outside("departement:24", geotiff_resource["grid"])
    assert 0 < len(missed) <= 10
    assert f"Communes: {len(communes_of('departement:24'))}" in report, report
    prefix = f"Communes outside the grid ({len(missed)}): "
    lines = [line for line in report.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, report
    assert sorted(lines[0][len(prefix):].split(", ")) == missed


def communes_of(perimeter: str) -> list[str]:
    from ckanext.dataclic.territories import Referential

    return list(Referential.default().resolve(perimeter).communes)
