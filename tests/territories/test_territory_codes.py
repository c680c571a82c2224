"""Parsing and validation of perimeter identifiers, and code normalisation."""
from __future__ import annotations

import pytest

from ckanext.dataclic.territories import PerimeterError, normalise_code


@pytest.mark.parametrize(
    ("perimeter", "field", "fragment"),
    [
        ("", "id", "empty"),
        ("canton:3301", "kind", "Unknown perimeter kind 'canton'"),
        ("33063", "kind", "no kind"),
        ("commune:33 063", "code", "Malformed commune code"),
        ("commune:3306a", "code", "Malformed commune code"),
        ("commune:ABCDE", "code", "Malformed commune code"),
        ("commune:", "code", "empty code"),
        ("epci:24330031", "code", "exactly 9 digits"),
        ("epci:2433003160", "code", "exactly 9 digits"),
        ("departement:333", "code", "Malformed département"),
        ("communes:33063,,33281", "code", "empty item"),
        ("commune:99999", "code", "Unknown commune '99999'"),
        ("epci:123456789", "code", "Unknown EPCI SIREN"),
        ("departement:96", "code", "Unknown département"),
        ("region:99", "code", "Unknown région"),
    ],
)
def test_bad_perimeters_name_the_field_and_accepted_forms(ref, perimeter, field, fragment):
    with pytest.raises(PerimeterError) as caught:
        ref.resolve(perimeter)
    message = str(caught.value)
    assert fragment in message
    assert caught.value.field == field
    if field != "code" or "Malformed" in fragment or "empty" in fragment or "9 digits" in fragment:
        assert "epci:<SIREN, 9 digits" in message  # the accepted forms are spelt out


def test_perimeter_error_is_a_value_error(ref):
    with pytest.raises(ValueError):
        ref.resolve("nonsense")


def test_former_commune_perimeter_points_to_its_current_commune(ref):
    with pytest.raises(PerimeterError, match=r"part of 33008 \(Porte-de-Benauge\)"):
        ref.resolve("commune:33092")
    with pytest.raises(PerimeterError, match="2A004"):
        ref.resolve("commune:20004")


@pytest.mark.parametrize(
    ("raw", "pad", "expected"),
    [("1001", True, "01001"), (" 01001 ", True, "01001"), ("1001", False, "1001"),
     ("2a004", True, "2A004"), ("33 063", True, "33063"), ("97411", True, "97411")],
)
def test_normalise_code(ref, raw, pad, expected):
    assert normalise_code(raw, pad=pad) == expected
    assert ref.normalise_code(raw, pad=pad) == expected


def test_kind_and_code_are_case_and_space_tolerant(ref):
    assert ref.resolve(" Departement:2a ").id == "departement:2A"
