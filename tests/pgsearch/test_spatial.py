"""ckanext-spatial's bounding-box search (``ext_bbox``) answered by the PostgreSQL stand-in."""
from __future__ import annotations

import json

import pytest
import shapely
from ckan.lib.search import SearchError
from ckan.tests import factories, helpers

from ckanext.dataclic.pgsearch import lucene
from ckanext.dataclic.pgsearch.compiler import QueryCompiler
from ckanext.dataclic.pgsearch.spatial import filter_sql, function_sql

pytestmark = [
    pytest.mark.usefixtures("clean_db", "clean_index", "with_plugins"),
    pytest.mark.ckan_config("ckan.plugins", "dataclic_pgsearch spatial_metadata spatial_query"),
    pytest.mark.ckan_config("ckan.auth.create_unowned_dataset", True),
]

# French territories' envelopes (lon/lat), rounded.
TERRITORIES = {
    "gironde": (-1.27, 44.19, 0.32, 45.58),
    "landes": (-1.53, 43.49, 0.14, 44.53),
    "bordeaux": (-0.64, 44.81, -0.53, 44.92),
    "corse": (8.53, 41.33, 9.56, 43.03),
}


def _box(bounds) -> str:
    return shapely.to_geojson(shapely.box(*bounds))


@pytest.fixture
def territories():
    made = {}
    for name, bounds in TERRITORIES.items():
        made[name] = factories.Dataset(name=name, title=name.title(),
                                       extras=[{"key": "spatial", "value": _box(bounds)}])
    factories.Dataset(name="no-spatial", title="No spatial")
    factories.Dataset(name="a-point", extras=[{"key": "spatial", "value": json.dumps(
        {"type": "Point", "coordinates": [-0.57, 44.84]})}])
    return made


def _overlap_ratio(query, bounds) -> float:
    """ckanext-spatial's documented ordering: 2·area(box ∩ envelope) / (area(box) +
    area(envelope)), computed here with shapely."""
    box, envelope = shapely.box(*query), shapely.box(*bounds)
    total = box.area + envelope.area
    return 2 * box.intersection(envelope).area / total if total else 0.0


@pytest.mark.parametrize("query", [
    (-0.7, 44.7, -0.4, 45.0),      # around Bordeaux: Bordeaux and Gironde
    (-2.0, 43.0, 1.0, 46.0),       # Aquitaine: Gironde, Landes, Bordeaux
    (-1.0, 44.3, -0.9, 44.4),      # south Gironde, north Landes
    (5.0, 40.0, 10.0, 44.0),       # Corse
    (20.0, 10.0, 30.0, 20.0),      # nothing there
])
def test_bbox_finds_intersecting_datasets_best_overlap_first(territories, query):
    result = helpers.call_action("package_search", extras={
        "ext_bbox": ",".join(str(v) for v in query)}, rows=50)
    expected = sorted(
        (name for name, bounds in TERRITORIES.items() if _overlap_ratio(query, bounds) > 0),
        key=lambda name: -_overlap_ratio(query, TERRITORIES[name]))
    assert [d["name"] for d in result["results"]] == expected
    assert result["count"] == len(expected)


def test_bbox_combines_with_text_and_facets(territories):
    result = helpers.call_action("package_search", q="Gironde OR Landes OR Corse",
                                 extras={"ext_bbox": "-2,43,1,46"}, rows=50,
                                 **{"facet.field": ["name"]})
    assert sorted(d["name"] for d in result["results"]) == ["gironde", "landes"]
    assert result["count"] == 2


def test_bbox_on_the_dataset_page(app, territories):
    body = app.get("/dataset/", query_string={"ext_bbox": "8,41,10,44"}).get_data(as_text=True)
    assert "Corse" in body and "Gironde" not in body and "Landes" not in body
    body = app.get("/dataset/", query_string={"ext_bbox": "-0.7,44.7,-0.4,45.0"}).get_data(
        as_text=True)
    assert "Bordeaux" in body and "Gironde" in body and "Corse" not in body


def test_a_bad_bbox_is_a_search_error():
    with pytest.raises(SearchError):
        helpers.call_action("package_search", extras={"ext_bbox": "-2,43,1,a"})


@pytest.mark.parametrize("text", [
    "div(1,", "unknown(1,2)", "sub(1)", "add(1,2) garbage", "max(1,2", "mul(1;2)",
    "div(" * 40 + "1" + ")" * 40,
])
def test_malformed_function_queries_are_syntax_errors(text):
    with pytest.raises(lucene.QuerySyntaxError):
        function_sql(text, QueryCompiler())


def test_only_frange_filters_are_function_filters():
    compiler = QueryCompiler()
    assert filter_sql("name:gironde", compiler) is None
    assert filter_sql("{!tag=x}name:gironde", compiler) is None
    sql = filter_sql("{!frange l=0 u=1 incl=false}sub(maxx,minx)", compiler)
    assert " > " in sql and " <= " in sql
    assert 0.0 in compiler.params.values() and 1.0 in compiler.params.values()
    assert "maxx" in compiler.params.values()  # field names are bound, never inlined
