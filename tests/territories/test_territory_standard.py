"""Standard descriptions of a territory: data.gouv.fr geozone ids and an indexable outline."""
from __future__ import annotations

import json

import pytest
import shapely

from ckanext.dataclic.territories import PerimeterError
from ckanext.dataclic.territories.standard import geozone_ids, outline_geojson


@pytest.mark.parametrize("perimeter, expected", [
    ("commune:33063", ["fr:commune:33063"]),
    ("epci:243300316", ["fr:epci:243300316"]),
    ("departement:2A", ["fr:departement:2A"]),
    ("region:75", ["fr:region:75"]),
    ("communes:33281,33063", ["fr:commune:33063", "fr:commune:33281"]),
])
def test_geozone_ids(perimeter, expected):
    assert geozone_ids(perimeter) == expected


def test_geozone_ids_of_a_malformed_perimeter_is_an_error():
    with pytest.raises(PerimeterError):
        geozone_ids("canton:3301")


def test_outline_fits_the_limit_and_keeps_the_shape(ref):
    geometry = ref.resolve("departement:33").geometry
    # The embedded contours are light already: a lower limit forces the simplification.
    assert len(shapely.to_geojson(geometry)) > 8_000
    text = outline_geojson(geometry, max_chars=8_000)
    assert len(text) <= 8_000
    outline = shapely.from_geojson(text)
    assert outline.is_valid
    overlap = outline.intersection(geometry).area
    assert overlap / geometry.area > 0.97 and overlap / outline.area > 0.97
    assert json.loads(text)["type"] in ("Polygon", "MultiPolygon")


def test_a_tiny_limit_falls_back_to_the_envelope(ref):
    geometry = ref.resolve("departement:33").geometry
    outline = shapely.from_geojson(outline_geojson(geometry, max_chars=100))
    assert outline.equals(shapely.box(*geometry.bounds))


def test_a_small_commune_keeps_its_full_detail(ref):
    geometry = ref.resolve("commune:33063").geometry
    outline = shapely.from_geojson(outline_geojson(geometry))
    assert abs(outline.area - geometry.area) / geometry.area < 0.001


def test_no_geometry_no_outline():
    assert outline_geojson(shapely.MultiPolygon()) is None
    assert outline_geojson(None) is None
