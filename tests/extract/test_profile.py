"""Extraction profile detection and serialisation."""

from __future__ import annotations

import pytest

from ckanext.dataclic.extract import (
    ExtractionError,
    ExtractionProfile,
    ProfileOverrides,
    detect_profile,
)


@pytest.mark.parametrize("name", ["code_insee", "INSEE", "CODGEO", "Code commune", "DEPCOM",
                                  "INSEE_COM", "com_code", "code_insee_ban",
                                  "Code_INSEE_(BAN)", "Code INSÉE", "cod_commune"])
def test_code_column_by_name(tmp_path, ref, name):
    src = tmp_path / "in.csv"
    src.write_text(f"id;{name};population\n1;33063;1000\n2;2A004;2000\n3;01053;3000\n",
                   encoding="utf-8")
    assert detect_profile(src, ref).code_column == name


def test_code_column_by_values_and_not_by_numbers(tmp_path, ref):
    src = tmp_path / "in.csv"
    rows = "\n".join(f"{i};{c};{1000 + i}" for i, c in enumerate(
        ["33063", "33281", "01053", "75056", "2A004", "97411"]))
    src.write_text("id;where;altitude\n" + rows + "\n", encoding="utf-8")
    assert detect_profile(src, ref).code_column == "where"
    # Four-digit integers (altitudes) must not be taken for codes without a leading zero.
    src.write_text("id;altitude\n1;1001\n2;1053\n3;1004\n", encoding="utf-8")
    assert detect_profile(src, ref).code_column is None


def test_derived_code_slice(tmp_path, ref):
    src = tmp_path / "in.csv"
    src.write_text("NUM_POSTE;NOM\n33063001;A\n33281001;B\n16089001;C\n", encoding="utf-8")
    profile = detect_profile(src, ref)
    assert (profile.code_column, profile.code_slice) == ("NUM_POSTE", (0, 5))


def test_round_trip_and_overrides(tmp_path, ref):
    src = tmp_path / "in.csv"
    src.write_text("a;b;lat;lon\n33063;x;44.8;-0.5\n", encoding="utf-8")
    profile = detect_profile(src, ref, ProfileOverrides(code_column="b", code_slice=(0, 5),
                                                        crs="2154"))
    assert profile.code_column == "b" and profile.crs == "EPSG:2154"
    again = ExtractionProfile.from_json(profile.to_json())
    assert again == profile
    with pytest.raises(ExtractionError, match="Unknown profile field"):
        ExtractionProfile.from_dict({"format": "csv", "bogus": 1})
    with pytest.raises(ExtractionError, match="not valid JSON"):
        ExtractionProfile.from_json("{nope")


@pytest.mark.parametrize("mode", ["intersects", "clip"])
def test_layer_mixing_polygon_and_multipolygon_is_geometric(tmp_path, ref, bordeaux, mode):
    """OGR calls a GeoJSON mixing Polygon and MultiPolygon 'Unknown' (as it does a layer
    without geometry); real layers (ZNIEFF…) mix them, and must still be cut."""
    import json

    import pyogrio
    import shapely
    from shapely.geometry import box, mapping

    from ckanext.dataclic.extract import extract

    x1, y1 = bordeaux.geometry.bounds[2:]
    inside = box(*bordeaux.geometry.representative_point().buffer(0.005).bounds)
    far = box(x1 + 0.5, y1 + 0.5, x1 + 0.6, y1 + 0.6)
    multi = shapely.MultiPolygon([inside.buffer(-0.001), far])
    features = [{"type": "Feature", "properties": {"id": i}, "geometry": mapping(g)}
                for i, g in enumerate([inside, multi, far])]
    source = tmp_path / "mixed.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    assert pyogrio.read_info(source)["geometry_type"] == "Unknown"

    profile = detect_profile(source, ref)
    assert profile.geometry == "native"
    out = tmp_path / f"out-{mode}.gpkg"
    extract(source, bordeaux, out, mode=mode, output_format="gpkg")
    got = pyogrio.read_dataframe(out)
    perimeter = bordeaux.geometry
    expected = sorted(i for i, f in enumerate(features)
                      if shapely.geometry.shape(f["geometry"]).intersects(perimeter))
    assert sorted(got["id"].tolist()) == expected == [0, 1]
    if mode == "clip":
        clipped = {r.id: r.geometry for r in got.itertuples()}
        expected_area = shapely.geometry.shape(features[1]["geometry"]).intersection(
            perimeter).area
        assert clipped[1].area == pytest.approx(expected_area, rel=1e-6)
