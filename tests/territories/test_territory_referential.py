"""Perimeter resolution and code remapping on the embedded referential (no shared data)."""
from __future__ import annotations

import subprocess
import sys

import pytest
import shapely

from ckanext.dataclic.territories import Commune, Referential


def test_bordeaux_metropole_matches_the_contract(ref):
    p = ref.resolve("epci:243300316")
    assert (p.id, p.kind, p.code, p.name, p.vintage) == (
        "epci:243300316", "epci", "243300316", "Bordeaux Métropole", "COG 2026"
    )
    assert len(p.communes) == 28
    assert list(p.communes) == sorted(p.communes)
    assert "33063" in p.communes
    # Caudéran's former code lands in Bordeaux; codes are 5-character strings.
    assert {"33063", "33110"} <= p.codes
    assert all(isinstance(c, str) and len(c) == 5 for c in p.codes)
    assert ("departement", "33", "Gironde") in p.parents
    assert ("region", "75", "Nouvelle-Aquitaine") in p.parents


def test_default_referential_is_cached(ref):
    assert Referential.default() is ref
    assert ref.resolve("commune:33063") is ref.resolve("commune:33063")


def test_commune_parents_chain(ref):
    p = ref.resolve("commune:33063")
    assert [kind for kind, _code, _name in p.parents] == ["epci", "departement", "region"]
    assert p.parents[0] == ("epci", "243300316", "Bordeaux Métropole")


def test_current_commune_maps_codes_seen_in_data(ref):
    assert ref.current_commune("33092").code == "33008"  # merged into Porte-de-Benauge
    assert ref.current_commune("20004").code == "2A004"  # Corsica before 1976
    assert ref.current_commune("75101").code == "75056"  # arrondissement
    assert ref.current_commune("33371").code == "33018"  # commune déléguée
    assert ref.current_commune("1001").code == "01001"  # lost leading zero
    assert ref.current_commune("1001", pad=False) is None
    assert ref.current_commune("99999") is None
    assert isinstance(ref.current_commune("33063"), Commune)
    assert ref.is_known_code("2B033") and not ref.is_known_code("2C033")


def test_commune_fields(ref):
    c = ref.current_commune("33063")
    assert (c.code, c.name, c.epci_siren, c.epci_name, c.departement_code, c.region_code) == (
        "33063", "Bordeaux", "243300316", "Bordeaux Métropole", "33", "75"
    )


def test_paris_arrondissements_both_ways(ref):
    paris = ref.resolve("commune:75056")
    assert {f"751{n:02d}" for n in range(1, 21)} <= paris.codes
    first = ref.resolve("commune:75101")
    assert first.codes == frozenset({"75101"})
    assert first.parents[0] == ("commune", "75056", "Paris")
    assert {f"6938{n}" for n in range(1, 10)} <= ref.resolve("commune:69123").codes
    assert {f"132{n:02d}" for n in range(1, 17)} <= ref.resolve("commune:13055").codes


def test_corsica(ref):
    corse_du_sud = ref.resolve("departement:2A")
    assert "2A004" in corse_du_sud.communes and "20004" in corse_du_sud.codes
    assert not any(c.startswith("2B") for c in corse_du_sud.communes)
    assert ref.resolve("departement:2B").name == "Haute-Corse"


def test_drom_commune(ref):
    p = ref.resolve("commune:97411")
    assert p.name == "Saint-Denis"
    assert ("departement", "974", "La Réunion") in p.parents
    minx, miny, maxx, maxy = p.bounds
    assert 55.3 < minx < maxx < 55.6 and -21.2 < miny < maxy < -20.8


def test_commune_nouvelle_with_deleguees(ref):
    p = ref.resolve("commune:33018")
    assert p.communes == ("33018",)
    assert {"33018", "33371", "33495"} <= p.codes


def test_epci_spanning_two_departements(ref):
    spanning = [
        e for e in ref.epcis.values()
        if len({ref.communes[m].departement_code for m in e.members}) == 2
    ]
    assert spanning, "the COG has EPCI across départements"
    p = ref.resolve(f"epci:{spanning[0].siren}")
    assert len([k for k, _c, _n in p.parents if k == "departement"]) == 2


def test_custom_union_of_communes(ref):
    p = ref.resolve("communes:33281,33063")
    assert p.id == "communes:33063,33281"
    assert p.communes == ("33063", "33281")
    assert "33110" in p.codes
    assert p.name == "Bordeaux, Mérignac"


def test_geometry_is_union_and_cached(ref):
    p = ref.resolve("epci:243300316")
    geometry = p.geometry
    assert geometry.geom_type in ("Polygon", "MultiPolygon") and geometry.is_valid
    assert p.geometry is geometry
    parts = [ref.commune_geometry(c) for c in p.communes]
    total = sum(part.area for part in parts)
    assert abs(geometry.area - total) / total < 0.01
    assert shapely.contains(geometry, shapely.Point(-0.5792, 44.8378))  # Bordeaux centre


def test_region_geometry_from_departements(ref):
    p = ref.resolve("region:94")  # Corse
    assert p.geometry.is_valid
    assert abs(p.geometry.area - sum(ref.resolve(f"departement:{d}").geometry.area
                                     for d in ("2A", "2B"))) < 1e-6


def test_status_reports_communes_without_geometry(ref):
    status = ref.status()
    assert status["vintage"] == "COG 2026"
    assert status["communes"] > 34_000
    missing = status["communes_without_geometry"]
    # Overseas collectivities are not covered by the embedded contours; DROM are.
    assert "98714" in missing and "97411" not in missing and "33063" not in missing
    assert len(missing) < 120
    # Communes nouvelles younger than the contours get the union of their former parts.
    rebuilt = status["communes_with_geometry_from_parts"]
    assert len(rebuilt) == 4 and not set(rebuilt) & set(missing)


def test_loads_in_a_fresh_process_without_shared_data(tmp_path):
    code = (
        "from ckanext.dataclic.territories import Referential\n"
        "r = Referential.default()\n"
        "print(r.vintage, len(r.resolve('departement:33').communes))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.split() == ["COG", "2026", "534"]


@pytest.mark.parametrize("kind", ["commune", "epci", "departement", "region"])
def test_every_search_result_id_resolves(ref, kind):
    for result in ref.search("saint", kinds=[kind], limit=20):
        assert ref.resolve(result.id).name == result.name


def test_caches_stay_bounded(ref, monkeypatch):
    from ckanext.dataclic.territories import referential as module

    monkeypatch.setattr(module, "MAX_CACHED_PERIMETERS", 50)
    codes = sorted(ref.communes)[:200]
    for code in codes:
        ref.resolve(f"communes:{code},33063")
    assert len(ref._perimeter_cache) <= 50
    assert ref.resolve("communes:33063," + codes[-1]).communes == tuple(sorted(
        {"33063", codes[-1]}))


def test_embedded_data_is_compact_and_every_contour_valid(ref):
    from ckanext.dataclic.territories.embedded import data_path

    size = sum(data_path(name).stat().st_size for name in ("cog.json.gz", "contours.parquet"))
    assert size < 15 * 1024 * 1024
    geometries = list(ref.contours().values())
    assert len(geometries) > 34_800
    assert shapely.is_valid(geometries).all()
    assert {g.geom_type for g in geometries} == {"MultiPolygon"}


def test_a_perimeter_geometry_reads_only_its_own_communes_contours(ref):
    """A harvest cutting one EPCI must not hold every commune contour of France."""
    from ckanext.dataclic.territories.embedded import read_cog, read_contours
    from ckanext.dataclic.territories.referential import _embedded_subset

    asked: list[list[str]] = []

    def subset(codes):
        asked.append(sorted(codes))
        return _embedded_subset(codes)

    def everything():
        raise AssertionError("the whole contour set was loaded for one perimeter")

    fresh = Referential.from_cog_tables(read_cog(), contour_loader=everything,
                                        contour_subset_loader=subset)
    perimeter = fresh.resolve("epci:243300316")
    codes, geometries = read_contours()  # independent: the whole file, decoded at once
    full = dict(zip(codes, geometries))
    expected = shapely.union_all([full[c] for c in perimeter.communes])
    assert shapely.equals(perimeter.geometry, expected)
    assert asked == [sorted(perimeter.communes)]
    # The communes of the perimeter just cut are cached: no second read.
    assert shapely.equals(fresh.resolve("commune:33063").geometry, full["33063"])
    assert fresh.commune_geometry("33281") is not None
    assert len(asked) == 1
    # A code without contour is simply absent, as with the whole set.
    assert fresh.commune_contours(["99999"]) == {}


def test_subset_decoding_matches_the_whole_file():
    from ckanext.dataclic.territories.embedded import read_contours

    codes, geometries = read_contours()
    full = dict(zip(codes, geometries))
    wanted = [codes[0], "2A004", "33063", "75056", "97617", codes[-1], codes[len(codes) // 2]]
    found, parts = read_contours(codes=[*wanted, "99999"])
    assert sorted(found) == sorted(set(wanted))
    for code, geometry in zip(found, parts):
        assert shapely.to_wkb(geometry) == shapely.to_wkb(full[code]), code
    assert read_contours(codes=[])[0] == []
