"""Coverage of a file (codes present, rows per département, extent) and the preview it gives."""
from __future__ import annotations

import json

import pytest

from ckanext.dataclic.extract import detect_profile, extract
from ckanext.dataclic.extract.coverage import (
    bbox_disjoint,
    compute_coverage,
    estimate_rows,
    public_view,
)


@pytest.fixture(scope="module")
def gironde_and_landes_csv(tmp_path_factory, ref):
    """Two rows per commune of Gironde, one per commune of Landes, a row without a code."""
    path = tmp_path_factory.mktemp("coverage") / "population.csv"
    lines = ["code_insee;nom;lat;lon"]
    for code in sorted(ref.communes):
        if code[:2] in ("33", "40"):
            commune = ref.communes[code]
            for _ in range(2 if code.startswith("33") else 1):
                lines.append(f'{code};"{commune.name}";44,8;-0,5')
    lines.append(";nowhere;45,1;-0,9")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_coverage_of_a_csv_counts_rows_per_departement(gironde_and_landes_csv, ref):
    profile = detect_profile(gironde_and_landes_csv, ref)
    coverage = compute_coverage(gironde_and_landes_csv, profile)
    gironde = sum(1 for c in ref.communes if c.startswith("33"))
    landes = sum(1 for c in ref.communes if c.startswith("40"))
    assert coverage["rows"] == 2 * gironde + landes + 1
    assert coverage["departements"] == {"33": 2 * gironde, "40": landes}
    assert coverage["communes_count"] == gironde + landes
    assert coverage["bbox"] == [-0.9, 44.8, -0.5, 45.1]
    # Bounded: the bitmap of two départements is a few hundred bytes of JSON.
    assert len(json.dumps(coverage)) < 2000
    assert "communes" not in public_view(coverage)


def test_estimate_is_zero_and_exact_outside_the_file(gironde_and_landes_csv, ref, bordeaux):
    coverage = compute_coverage(gironde_and_landes_csv, detect_profile(gironde_and_landes_csv, ref))
    assert estimate_rows(coverage, ref.resolve("commune:35238").codes) == (0, True)   # Rennes
    assert estimate_rows(coverage, ref.resolve("region:53").codes) == (0, True)      # Bretagne
    rows, exact = estimate_rows(coverage, bordeaux.codes)
    assert not exact
    assert rows == 2 * len(bordeaux.communes)   # rows spread evenly: the estimate is right


def test_estimate_matches_the_extraction_it_predicts(gironde_and_landes_csv, ref, tmp_path):
    profile = detect_profile(gironde_and_landes_csv, ref)
    coverage = compute_coverage(gironde_and_landes_csv, profile)
    perimeter = ref.resolve("region:75")   # Nouvelle-Aquitaine: both départements and more
    result = extract(gironde_and_landes_csv, perimeter, tmp_path / "out.csv", referential=ref,
                     profile=profile)
    assert estimate_rows(coverage, perimeter.codes) == (result.report.rows_kept, False)


def test_extent_of_a_geojson_and_a_perimeter_outside_it(tmp_path, ref, bordeaux):
    features = [{"type": "Feature", "properties": {"code_commune": "33063"},
                 "geometry": {"type": "Point", "coordinates": [-0.58, 44.84]}},
                {"type": "Feature", "properties": {"code_commune": "33281"},
                 "geometry": {"type": "Point", "coordinates": [-0.65, 44.83]}}]
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    profile = detect_profile(path, ref)
    coverage = compute_coverage(path, profile)
    assert coverage["rows"] == 2
    assert coverage["bbox"] == [-0.65, 44.83, -0.58, 44.84]
    assert coverage["departements"] == {"33": 2}
    assert bbox_disjoint(coverage, ref.resolve("commune:35238").bounds)
    assert not bbox_disjoint(coverage, bordeaux.bounds)


def test_lambert93_coordinates_give_a_wgs84_extent(tmp_path, ref):
    path = tmp_path / "l93.csv"
    path.write_text("id;x_l93;y_l93\n1;417000;6423000\n2;420000;6425000\n", encoding="utf-8")
    profile = detect_profile(path, ref)
    assert profile.crs == "EPSG:2154"
    coverage = compute_coverage(path, profile)
    west, south, east, north = coverage["bbox"]
    assert -0.7 < west < east < -0.5 and 44.7 < south < north < 44.9
    assert "communes" not in coverage   # no code column: no code coverage
    assert estimate_rows(coverage, ["33063"]) == (None, False)


def test_a_national_bitmap_stays_small(ref):
    from collections import Counter

    from ckanext.dataclic.extract.coverage import summarise

    coverage = summarise(len(ref.communes), Counter({c: 1 for c in ref.communes}), None)
    assert coverage["communes_count"] == len(ref.communes)
    assert len(coverage["communes"]) < 20_000


def test_codes_in_another_form_forbid_a_no_rows_answer(ref):
    from collections import Counter

    from ckanext.dataclic.extract.coverage import summarise

    odd = summarise(3, Counter({"33063": 1, "BORDEAUX-33063": 2}), None)
    assert odd["rows_with_code"] == 1 and odd["rows_odd_code"] == 2
    assert estimate_rows(odd, ref.resolve("commune:35238").codes) == (None, False)
    assert estimate_rows(odd, ["33063"]) == (1, False)
