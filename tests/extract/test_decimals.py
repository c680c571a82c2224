"""Plain decimals parsed from raw bytes: the same values as a full parser, and every odd
spelling handed back, on its own and through a lat/lon CSV extraction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ckanext.dataclic.extract import extract
from ckanext.dataclic.extract.decimals import integer_bounds, parse_decimals

PLAIN = ["44.837789", "-0.57918", "0,5", "-0,0001", "7", "+3.25", "-12.", ".5", "0",
         "417635.12", "6421987.5", "-179.999999999", "123456789012345", "0.1", "45.00"]
ODD = ["1e-6", "-8e-06", " 44.5", "44.5 ", "4.5.6", "--4", "4-5", "abc", "-", ".", "1,5,5",
       "1234567890123456", "NaN", "inf", "4_5"]


def _fields(values: list[str], tail: bytes = b"x" * 32) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """The fields laid out as in a CSV buffer, followed by ``tail`` (more records)."""
    data = ";".join(values).encode() + b"\n" + tail
    arr = np.frombuffer(data, dtype=np.uint8)
    starts, ends, pos = [], [], 0
    for v in values:
        starts.append(pos)
        ends.append(pos + len(v))
        pos += len(v) + 1
    return arr, np.array(starts), np.array(ends)


def test_plain_decimals_are_bit_identical_to_float():
    arr, s, e = _fields(PLAIN)
    values, other = parse_decimals(arr, s, e)
    assert not other.any()
    expected = [float(v.replace(",", ".")) for v in PLAIN]
    assert values.tolist() == expected  # exact equality, not approximate


def test_random_coordinates_are_bit_identical():
    rng = np.random.default_rng(7)
    raw = rng.uniform(-180, 180, 5000)
    texts = [f"{v:.{d}f}" for v, d in zip(raw, rng.integers(0, 12, raw.size), strict=True)]
    arr, s, e = _fields(texts)
    values, other = parse_decimals(arr, s, e)
    assert not other.any()
    assert values.tolist() == [float(t) for t in texts]
    low, high, plain = integer_bounds(arr, s, e)
    assert plain.all()
    assert np.all((low <= values) & (values <= high))


def test_odd_spellings_are_left_to_the_general_parser():
    arr, s, e = _fields(ODD)
    values, other = parse_decimals(arr, s, e)
    assert other.all()
    assert np.isnan(values).all()
    _, _, plain = integer_bounds(arr, s, e)
    assert not plain.any()


def test_empty_fields_are_missing_not_odd():
    arr, s, e = _fields(["", "4.5", ""])
    values, other = parse_decimals(arr, s, e)
    assert math.isnan(values[0]) and values[1] == 4.5 and math.isnan(values[2])
    assert not other.any()
    assert integer_bounds(arr, s, e)[2].tolist() == [False, True, False]


def test_fields_at_the_very_end_of_a_buffer_are_left_to_the_exact_parser():
    arr, s, e = _fields(["4.5", "12345.5", "7.25"], tail=b"")
    assert integer_bounds(arr, s, e)[2].tolist() == [True, True, False]
    assert parse_decimals(arr, s, e)[0].tolist() == [4.5, 12345.5, 7.25]


def test_bounds_hold_the_value():
    arr, s, e = _fields(PLAIN)
    low, high, plain = integer_bounds(arr, s, e)
    values = [float(v.replace(",", ".")) for v in PLAIN]
    for text, lo, hi, ok, v in zip(PLAIN, low, high, plain, values, strict=True):
        if text == "123456789012345":  # more than nine integer digits
            assert not ok
            continue
        assert ok, text
        assert lo <= v <= hi, text


@pytest.mark.parametrize("far_lon", ["2.5x", "1e", "--2", ""])
def test_a_bad_coordinate_far_from_the_perimeter_counts_as_without_geometry(
        tmp_path, ref, bordeaux, far_lon):
    """Rows outside the perimeter are only bounded, not parsed: they must still be told
    apart from rows whose coordinates are not numbers or out of range."""
    rows = ["id;latitude;longitude",
            "1;44.8378;-0.5792",      # Bordeaux: kept
            f"2;48.8566;{far_lon}",   # Paris latitude, longitude not a number
            "3;48.8566;2.3522",       # Paris: read, not kept
            "4;48.8566;500.25",       # longitude out of range
            "5;44.8378;-8e-06",       # exponent: parsed exactly, outside Bordeaux
            "6;44,8024;-0,5886"]      # Talence, decimal commas: kept
    src = tmp_path / "points.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = extract(src, bordeaux, out, referential=ref, mode="intersects")
    assert [r.split(";")[0] for r in out.read_text().splitlines()[1:]] == ["1", "6"]
    assert result.report.rows_read == 6
    assert result.report.rows_without_geometry == 2
    assert any("range" in w for w in result.report.warnings), result.report.warnings
