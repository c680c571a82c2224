"""Choosing dimension labels of a grid (``labels`` / ``--labels horizon=H2,H3``), and engine
messages that callers can render in another language."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from ckanext.dataclic.extract.errors import ExtractionError, render_detail
from ckanext.dataclic.extract.grid.engine import extract_grid
from ckanext.dataclic.extract.grid.profile import GridOverrides

from . import grid_fixtures as gf
from .test_grid_stats import check_commune, index, long_rows


@pytest.fixture(scope="module")
def indicators(tmp_path_factory):
    return gf.horizon_netcdf(tmp_path_factory.mktemp("labels") / "indicators.nc")


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    return gf.drias_netcdf(tmp_path_factory.mktemp("labels") / "tasmax_day.nc", times=5)


def test_stats_only_for_the_kept_labels_match_the_exact_area_weights(indicators, ref,
                                                                      bordeaux, tmp_path):
    out = tmp_path / "h23.csv"
    result = extract_grid(indicators, bordeaux, out, referential=ref, threshold=25.0,
                          overrides=GridOverrides(variables=["NORTX35"],
                                                  labels={"horizon": ["H3", "H2"]}),
                          cache_dir=tmp_path / "cache")
    _, rows = long_rows(out)
    assert {r["horizon"] for r in rows} == {"H2", "H3"}
    assert {r["variable"] for r in rows} == {"NORTX35"}
    assert result.report.layers == 2
    assert result.report.labels == {"horizon": ["H2", "H3"]}  # the file's order
    values = index(rows, "horizon")
    for h, label in ((2, "H2"), (3, "H3")):
        field = gf.safran_field(h).astype(np.float32).astype(np.float64)[::-1]
        for code in ("33063", "33281"):
            check_commune(values, code, ref.commune_geometry(code), field, 25.0,
                          key=("NORTX35", label))


def test_labels_that_are_not_consecutive_in_a_daily_file(daily, ref, tmp_path):
    """Days 1 and 4 of five: read as two runs, each checked against the independent
    computation; the wide CSV names only those days."""
    bordeaux_commune = ref.resolve("commune:33063")
    out = tmp_path / "days.csv"
    days = ["2006-01-02T12:00:00", "2006-01-05T12:00:00"]
    extract_grid(daily, bordeaux_commune, out, referential=ref,
                 overrides=GridOverrides(labels={"time": days}), cache_dir=tmp_path / "c")
    _, rows = long_rows(out)
    assert sorted({r["time"] for r in rows}) == days
    values = index(rows, "time")
    for t, label in ((1, days[0]), (4, days[1])):
        field = gf.safran_field(t).astype(np.float32).astype(np.float64)[::-1]
        check_commune(values, "33063", ref.commune_geometry("33063"), field, None,
                      key=("tasmaxAdjust", label))


def test_clip_keeps_only_the_chosen_labels(indicators, ref, bordeaux, tmp_path):
    import rasterio
    import xarray as xr

    nc = tmp_path / "h1.nc"
    extract_grid(indicators, bordeaux, nc, referential=ref, mode="clip",
                 overrides=GridOverrides(labels={"horizon": ["H1"]}),
                 cache_dir=tmp_path / "c")
    with xr.open_dataset(nc) as ds:
        assert list(ds["horizon"].values) == ["H1"]
        assert ds["NORTX35"].shape[0] == 1
        want = gf.safran_field(1).astype(np.float32)
        got = ds["NORTX35"].isel(horizon=0)
        # A cell kept in the clip holds the file's value at the same coordinates.
        y, x = float(got["y"][0]), float(got["x"][0])
        row, col = round((y - gf.Y0) / gf.RES), round((x - gf.X0) / gf.RES)
        finite = np.isfinite(got.values)
        assert finite.any() and not finite.all()  # masked outside the perimeter
        r, c = np.argwhere(finite)[0]
        step = 1 if float(got["y"][-1]) > y else -1
        assert got.values[r, c] == want[row + step * r, col + c]
    tif = tmp_path / "h1.tif"
    extract_grid(indicators, bordeaux, tif, referential=ref, mode="clip",
                 overrides=GridOverrides(variables=["NORTR"], labels={"horizon": ["H1",
                                                                                 "H3"]}),
                 cache_dir=tmp_path / "c")
    with rasterio.open(tif) as src:
        assert src.count == 2
        assert list(src.descriptions) == ["NORTR|H1", "NORTR|H3"]


@pytest.mark.parametrize(("labels", "message"), [
    ({"scenario": ["rcp85"]}, "No dimension 'scenario' in the file; it has horizon"),
    ({"horizon": ["H9"]}, "No label 'H9' in the dimension 'horizon'; it has REF, H1, H2, H3"),
    ({"horizon": []}, "Choose at least one label of the dimension 'horizon'"),
])
def test_unknown_dimension_or_label_names_it_and_the_possible_ones(indicators, ref, bordeaux,
                                                                   tmp_path, labels, message):
    out = tmp_path / "bad.csv"
    with pytest.raises(ExtractionError) as caught:
        extract_grid(indicators, bordeaux, out, referential=ref,
                     overrides=GridOverrides(labels=labels), cache_dir=tmp_path / "c")
    assert str(caught.value) == message
    assert not out.exists() and not list(tmp_path.glob("bad*"))


def test_cli_labels_option(indicators, tmp_path):
    out = tmp_path / "cli.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "ckanext.dataclic.extract.cli", "extract", str(indicators),
         "-t", "commune:33063", "-o", str(out), "--labels", "horizon=H2",
         "--labels", "horizon=H3", "--variables", "NORTR", "--no-cache"],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    _, rows = long_rows(out)
    assert {r["horizon"] for r in rows} == {"H2", "H3"}
    bad = subprocess.run(
        [sys.executable, "-m", "ckanext.dataclic.extract.cli", "extract", str(indicators),
         "-t", "commune:33063", "-o", str(tmp_path / "x.csv"), "--labels", "horizon",
         "--no-cache"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("Error: --labels takes DIMENSION=LABEL")


def test_an_engine_message_renders_in_another_language_from_its_detail():
    error = ExtractionError("No variable {name} in the file; it has {names}", name="'tx'",
                            names=["NORTX35", "NORTR"])
    assert str(error) == "No variable 'tx' in the file; it has NORTX35, NORTR"
    french = {"No variable {name} in the file; it has {names}":
              "Pas de variable {name} dans le fichier ; il a {names}"}
    detail = pickle.loads(pickle.dumps(error)).detail()
    assert render_detail(detail, lambda t: french.get(t, t)) == \
        "Pas de variable 'tx' dans le fichier ; il a NORTX35, NORTR"
    # A translation that does not fit the values falls back to the English text.
    assert render_detail(detail, lambda t: "{unknown}") == str(error)
