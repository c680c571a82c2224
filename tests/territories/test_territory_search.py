"""Search by name, code, SIREN and postcode."""
from __future__ import annotations

import pytest

from ckanext.dataclic.territories import fold


def ids(results):
    return [r.id for r in results]


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("st emilion", "commune:33394"),
        ("Saint-Émilion", "commune:33394"),
        ("SAINT EMILION", "commune:33394"),
        ("bordeaux met", "epci:243300316"),
        ("Bordeaux", "commune:33063"),
        ("33063", "commune:33063"),
        ("243300316", "epci:243300316"),
        ("213300635", "commune:33063"),  # a commune's SIREN
        ("33000", "commune:33063"),  # postcode
        ("2a", "departement:2A"),
        ("ste maxime", "commune:83115"),
        ("l abergement clem", "commune:01001"),
        ("1001", "commune:01001"),
    ],
)
def test_search_finds(ref, query, expected_first):
    assert ids(ref.search(query))[0] == expected_first


def test_exact_code_before_names_and_population_orders_prefixes(ref):
    results = ref.search("75")
    assert set(ids(results)[:2]) == {"departement:75", "region:75"}
    saint = ref.search("saint denis", kinds=["commune"], limit=3)
    # La Réunion's Saint-Denis (~150,000 inhabitants) before the smaller ones.
    assert ids(saint)[:2] == ["commune:97411", "commune:93066"]


def test_kinds_filter_and_limit(ref):
    results = ref.search("bordeaux", kinds=["epci"], limit=5)
    assert results and all(r.kind == "epci" for r in results)
    assert len(ref.search("saint", limit=7)) == 7
    assert ref.search("   ") == []


def test_result_fields(ref):
    result = ref.search("st emilion")[0].as_dict()
    assert result == {
        "id": "commune:33394",
        "kind": "commune",
        "kind_label": "Commune",
        "code": "33394",
        "name": "Saint-Émilion",
        "population": result["population"],
        "departement": {"code": "33", "name": "Gironde"},
    }
    arrondissement = ref.search("paris 1er")[0]
    assert arrondissement.id == "commune:75101" and arrondissement.kind == "arrondissement"


def test_fold():
    assert fold("Sainte-Foy-l'Argentière") == "sainte foy l argentiere"
    assert fold("St-Étienne") == "saint etienne"
    assert fold("Œuilly") == "oeuilly"
