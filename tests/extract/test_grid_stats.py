"""Per-commune statistics of climate grids, against an independent shapely computation
(polygon ∩ cell polygon areas, one commune and one cell at a time)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from ckanext.dataclic.extract.errors import ExtractionError
from ckanext.dataclic.extract.grid.engine import extract_grid

from . import grid_fixtures as gf

SAFRAN_EDGES = (56_000.0, 2_685_000.0, 8_000.0)


def close(got: str, want: float) -> bool:
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return got == ""
    return math.isclose(float(got), want, rel_tol=1e-6, abs_tol=1e-9)


def long_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=";")
        return list(reader.fieldnames or []), list(reader)


def index(rows: list[dict[str, str]], *dims: str) -> dict[tuple, str]:
    return {(r["code"], r["variable"], *(r[d] for d in dims), r["statistic"]): r["value"]
            for r in rows}


@pytest.fixture(scope="module")
def grids(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grids")
    return {
        "horizon": gf.horizon_netcdf(folder / "indicators.nc"),
        "daily": gf.drias_netcdf(folder / "tasmaxAdjust_France_day.nc"),
        "indices": gf.drias_netcdf(folder / "sim2_indices.nc", index_coords=True),
        "text": gf.drias_text(folder / "indicateurs_drias.txt"),
        "tif": gf.north_up_geotiff(folder / "lambert93.tif"),
    }


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def check_commune(values, code, geom, field_north_up, threshold, crs="EPSG:27572",
                  edges=SAFRAN_EDGES, key=()):
    want = gf.expected_stats(geom, crs, edges[0], edges[1], edges[2], field_north_up,
                             threshold)
    for stat in ("mean", "min", "max", "coverage", "share_above", "share_below"):
        if stat in ("share_above", "share_below") and threshold is None:
            continue
        got = values[(code, *key, stat)]
        assert close(got, want.get(stat, float("nan"))), (code, key, stat, got, want)
    return want


def test_epci_per_commune_and_perimeter_match_the_exact_area_weights(grids, ref, bordeaux,
                                                                     tmp_path, cache):
    out = tmp_path / "bm.csv"
    result = extract_grid(grids["horizon"], bordeaux, out, referential=ref, threshold=25.0,
                          cache_dir=cache)
    header, rows = long_rows(out)
    assert header == ["level", "code", "name", "variable", "horizon", "statistic", "value"]
    values = index(rows, "horizon")
    # Every commune of the EPCI and the EPCI itself, for each variable x horizon label.
    assert {r["code"] for r in rows} == set(bordeaux.communes) | {"epci:243300316"}
    assert {r["horizon"] for r in rows} == {"REF", "H1", "H2", "H3"}
    assert result.report.layers == 8
    names = {r["code"]: r["name"] for r in rows}
    assert names["33063"] == "Bordeaux"
    for h, label in enumerate(["REF", "H1", "H2", "H3"]):
        nortx = gf.safran_field(h).astype(np.float32).astype(np.float64)[::-1]
        for code in bordeaux.communes:
            check_commune(values, code, ref.commune_geometry(code), nortx, 25.0,
                          key=("NORTX35", label))
        check_commune(values, "epci:243300316", bordeaux.geometry, nortx, 25.0,
                      key=("NORTX35", label))
    nortr = (gf.safran_field(3, seed=5.0) * 2).astype(np.float32).astype(np.float64)[::-1]
    check_commune(values, "33063", ref.commune_geometry("33063"), nortr, 25.0,
                  key=("NORTR", "H3"))


def test_a_commune_much_smaller_than_a_cell_gets_its_value(grids, ref, tmp_path, cache):
    import shapely
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", "EPSG:27572", always_xy=True)
    gironde = ref.resolve("departement:33").communes
    areas = {c: shapely.transform(ref.commune_geometry(c),
                                  lambda xy: np.column_stack(tr.transform(*xy.T))).area
             for c in gironde}
    smallest = min(areas, key=areas.get)
    assert areas[smallest] < 0.05 * 8000 * 8000  # well under a twentieth of a cell
    out = tmp_path / "small.csv"
    extract_grid(grids["daily"], ref.resolve(f"commune:{smallest}"), out, referential=ref,
                 cache_dir=cache)
    _, rows = long_rows(out)
    values = index(rows, "time")
    for t in range(3):
        field = gf.safran_field(t).astype(np.float32).astype(np.float64)[::-1]
        label = f"2006-01-0{t + 1}T12:00:00"
        want = check_commune(values, smallest, ref.commune_geometry(smallest), field, None,
                             key=("tasmaxAdjust", label))
        assert want["coverage"] == pytest.approx(1.0)
        assert values[(smallest, "tasmaxAdjust", label, "mean")] != ""


def test_time_dimension_labels_and_index_coordinates(grids, ref, bordeaux, tmp_path, cache):
    """A daily file keeps its time labels; a file whose x/y are SAFRAN cell indices (and
    whose y runs south-up, with 2-D lat/lon) gives the same numbers as one in metres."""
    metres, indices = tmp_path / "m.csv", tmp_path / "i.csv"
    extract_grid(grids["daily"], bordeaux, metres, referential=ref, cache_dir=cache)
    extract_grid(grids["indices"], bordeaux, indices, referential=ref, cache_dir=cache)
    _, rows = long_rows(metres)
    assert sorted({r["time"] for r in rows}) == [
        "2006-01-01T12:00:00", "2006-01-02T12:00:00", "2006-01-03T12:00:00"]
    assert metres.read_text() == indices.read_text()
    values = index(rows, "time")
    field = gf.safran_field(2).astype(np.float32).astype(np.float64)[::-1]
    check_commune(values, "33281", ref.commune_geometry("33281"), field, None,
                  key=("tasmaxAdjust", "2006-01-03T12:00:00"))


def test_perimeter_on_the_grid_edge(grids, ref, tmp_path, cache):
    """Finistère: some communes lie partly on cells without value (the fixture's "sea"),
    islands off the grid have none; coverage says how much of each is covered."""
    finistere = ref.resolve("departement:29")
    out = tmp_path / "29.csv"
    result = extract_grid(grids["horizon"], finistere, out, referential=ref, threshold=25.0,
                          cache_dir=cache)
    _, rows = long_rows(out)
    values = index(rows, "horizon")
    coverage = {c: float(values[(c, "NORTX35", "REF", "coverage")] or 0)
                for c in finistere.communes}
    partial = [c for c, v in coverage.items() if 0.05 < v < 0.95][:6]
    none = [c for c, v in coverage.items() if v == 0][:3]
    assert partial and none
    field = gf.safran_field(0).astype(np.float32).astype(np.float64)[::-1]
    for code in partial + none:
        check_commune(values, code, ref.commune_geometry(code), field, 25.0,
                      key=("NORTX35", "REF"))
    for code in none:
        assert values[(code, "NORTX35", "REF", "mean")] == ""
    outside = set(result.report.communes_without_value)
    assert outside and outside <= set(none) | {c for c, v in coverage.items() if v == 0}
    check_commune(values, "departement:29", finistere.geometry, field, 25.0,
                  key=("NORTX35", "REF"))


def test_north_up_geotiff_in_another_crs(grids, ref, bordeaux, tmp_path, cache):
    path, info = grids["tif"]
    out = tmp_path / "tif.csv"
    extract_grid(path, bordeaux, out, referential=ref, threshold=30.0, cache_dir=cache)
    header, rows = long_rows(out)
    assert "band" in header
    values = index(rows, "band")
    edges = (info["x_min"], info["y_max"], info["res"])
    for b, label in enumerate(["scenario_1", "scenario_2"]):
        arr = info["arrays"][b].astype(np.float64)
        for code in ("33063", "33281", "33003"):
            check_commune(values, code, ref.commune_geometry(code), arr, 30.0,
                          crs="EPSG:2154", edges=edges, key=("lambert93", label))


def test_drias_text_export_rebuilt_on_the_grid(grids, ref, bordeaux, tmp_path, cache):
    out = tmp_path / "txt.csv"
    extract_grid(grids["text"], bordeaux, out, referential=ref, cache_dir=cache)
    header, rows = long_rows(out)
    assert header[3:6] == ["variable", "contexte", "periode"]
    values = index(rows, "contexte", "periode")
    for h, period in enumerate(["REF", "H1", "H2"]):
        nortx = np.round(gf.safran_field(h), 6)[::-1]
        nortav = np.round(gf.safran_field(h, seed=1.0) / 2, 6)[::-1]
        for code in ("33063", "33249"):
            geom = ref.commune_geometry(code)
            check_commune(values, code, geom, nortx, None, key=("NORTX35", "RCP8.5", period))
            check_commune(values, code, geom, nortav, None, key=("NORTAV", "RCP8.5", period))


def test_small_blocks_give_the_same_numbers(grids, ref, bordeaux, tmp_path, cache,
                                            monkeypatch):
    """Daily files are read in blocks along time: block boundaries change nothing."""
    from ckanext.dataclic.extract.grid import stats

    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    extract_grid(grids["daily"], bordeaux, whole, referential=ref, threshold=20,
                 cache_dir=cache)
    monkeypatch.setattr(stats, "BLOCK_BYTES", 1)
    extract_grid(grids["daily"], bordeaux, chunked, referential=ref, threshold=20,
                 cache_dir=cache)
    assert whole.read_text() == chunked.read_text()


def test_wide_csv_and_geojson_hold_the_same_values(grids, ref, bordeaux, tmp_path, cache):
    import json

    long_out, wide_out, geo = tmp_path / "l.csv", tmp_path / "w.csv", tmp_path / "s.geojson"
    for out, wide in ((long_out, False), (wide_out, True), (geo, False)):
        extract_grid(grids["horizon"], bordeaux, out, referential=ref, wide=wide,
                     threshold=25.0, cache_dir=cache)
    values = index(long_rows(long_out)[1], "horizon")
    with wide_out.open(encoding="utf-8") as fh:
        wide_rows = list(csv.DictReader(fh, delimiter=";"))
    assert len(wide_rows) == len(bordeaux.communes) + 1
    row = next(r for r in wide_rows if r["code"] == "33063")
    assert row["NORTX35_H2_share_above"] == values[("33063", "NORTX35", "H2", "share_above")]
    assert row["NORTR_REF_mean"] == values[("33063", "NORTR", "REF", "mean")]
    features = json.loads(geo.read_text())["features"]
    assert len(features) == len(bordeaux.communes) + 1
    bdx = next(f for f in features if f["properties"]["code"] == "33063")
    assert bdx["geometry"]["type"] == "MultiPolygon"
    assert math.isclose(bdx["properties"]["NORTX35_H1_mean"],
                        float(values[("33063", "NORTX35", "H1", "mean")]), rel_tol=1e-9)


def test_weights_are_cached_beside_the_referential_cache(grids, ref, bordeaux, tmp_path,
                                                         cache):
    first = extract_grid(grids["horizon"], bordeaux, tmp_path / "a.csv", referential=ref,
                         cache_dir=cache)
    assert first.report.weights_computed == len(bordeaux.communes)
    files = list(cache.glob("*/grid-*.npz"))
    assert len(files) == 1
    second = extract_grid(grids["text"], bordeaux, tmp_path / "b.csv", referential=ref,
                          cache_dir=cache)  # same SAFRAN grid, another file
    assert second.report.weights_cached and second.report.weights_computed == 0
    third = extract_grid(grids["horizon"], ref.resolve("epci:200054781"), tmp_path / "c.csv",
                         referential=ref, cache_dir=cache)
    assert third.report.weights_computed > 0  # only the new communes are added
    assert list(cache.glob("*/grid-*.npz")) == files


def test_bad_requests_give_clear_errors_and_no_file(grids, ref, bordeaux, tmp_path, cache):
    with pytest.raises(ExtractionError, match="No variable 'tas'"):
        from ckanext.dataclic.extract.grid.profile import GridOverrides

        extract_grid(grids["horizon"], bordeaux, tmp_path / "x.csv", referential=ref,
                     overrides=GridOverrides(variables=["tas"]), cache_dir=cache)
    with pytest.raises(ExtractionError, match="csv, geojson or gpkg"):
        extract_grid(grids["horizon"], bordeaux, tmp_path / "x.parquet", referential=ref,
                     cache_dir=cache)
    martinique = ref.resolve("departement:972")
    with pytest.raises(ExtractionError, match="does not cover"):
        extract_grid(grids["horizon"], martinique, tmp_path / "x.csv", referential=ref,
                     cache_dir=cache)
    assert list(tmp_path.glob("x*")) == [] and list(tmp_path.glob(".x*")) == []


def test_texts_holding_the_delimiter_are_quoted(grids, ref, tmp_path, cache):
    """Plain CSV when no text needs quotes; quoted fields when a label holds the delimiter."""
    import xarray as xr

    plain = tmp_path / "plain.csv"
    extract_grid(grids["horizon"], ref.resolve("commune:33063"), plain, referential=ref,
                 cache_dir=cache)
    assert plain.read_text().splitlines()[1].startswith("commune;33063;Bordeaux;NORTX35;REF;")
    with xr.open_dataset(grids["horizon"]) as ds:
        odd = ds.load().assign_coords(horizon=["1976-2005", "2021-2050; près", "H2", "H3"])
    odd.to_netcdf(tmp_path / "odd.nc", engine="h5netcdf")
    quoted = tmp_path / "quoted.csv"
    extract_grid(tmp_path / "odd.nc", ref.resolve("commune:33063"), quoted, referential=ref,
                 cache_dir=cache)
    with quoted.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    assert {len(r) for r in rows} == {7}
    assert {r[4] for r in rows[1:]} == {"1976-2005", "2021-2050; près", "H2", "H3"}
    with pytest.raises(ExtractionError, match="delimiter"):
        extract_grid(grids["horizon"], ref.resolve("commune:33063"), tmp_path / "x.csv",
                     referential=ref, delimiter="x", cache_dir=cache)


def test_a_grid_too_fine_for_the_perimeter_is_refused(grids, ref, bordeaux, tmp_path,
                                                      monkeypatch):
    from ckanext.dataclic.extract.grid import weights

    monkeypatch.setattr(weights, "MAX_PAIRS", 50)  # the EPCI meets more SAFRAN cells
    with pytest.raises(ExtractionError, match="too fine"):
        extract_grid(grids["horizon"], bordeaux, tmp_path / "x.csv", referential=ref,
                     cache_dir=tmp_path / "c")
    assert not (tmp_path / "x.csv").exists()
