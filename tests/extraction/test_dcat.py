"""A published extract in ckanext-dcat's output: territory, source, licence, temporal,
format and media type, read back with rdflib from the dataset and the catalogue endpoints."""
from __future__ import annotations

import json

import pytest
import shapely
from ckan.tests import factories
from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, PROV, RDF

from ckanext.dataclic.extraction import service

from .conftest import communes_csv, gironde_and_landes, run_jobs, upload
from .test_actions import call

LOCN = Namespace("http://www.w3.org/ns/locn#")
SITE = "http://test.ckan.net"

pytestmark = [
    pytest.mark.usefixtures("clean_index", "extraction_env", "with_test_worker"),
    pytest.mark.ckan_config("ckan.plugins", "dataclic_pgsearch dataclic dcat"),
    pytest.mark.ckan_config("ckanext.dcat.rdf.profiles", "euro_dcat_ap_3 dataclic_territory"),
]


@pytest.fixture()
def published(app, editor, org):
    source = factories.Dataset(
        owner_org=org["id"], name="population-communes", title="Population des communes",
        license_id="odc-odbl",
        extras=[{"key": "temporal_start", "value": "2021-01-01"},
                {"key": "temporal_end", "value": "2023-12-31"}])
    resource = factories.Resource(package_id=source["id"], name="population.csv",
                                  upload=upload(communes_csv(gironde_and_landes()), "p.csv"))
    run_jobs()
    record = call(app, "dataclic_extract", user=editor, resource_id=resource["id"],
                  perimeter="departement:33", format="csv")["result"]
    result = call(app, "dataclic_publish", user=editor, id=record["id"],
                  owner_org=org["name"])["result"]
    return call(app, "package_show", user=editor, id=result["package_id"])["result"]


def _graph(app, url: str, fmt: str = "turtle") -> Graph:
    response = app.get(url)
    assert response.status_code == 200
    graph = Graph()
    graph.parse(data=response.get_data(as_text=True), format=fmt)
    return graph


def _check_dataset(graph: Graph, dataset: dict) -> None:
    ref = URIRef(f"{SITE}/dataset/{dataset['id']}")
    assert (ref, RDF.type, DCAT.Dataset) in graph
    [location] = list(graph.objects(ref, DCTERMS.spatial))
    assert {str(i) for i in graph.objects(location, DCTERMS.identifier)} == {
        "fr:departement:33"}
    geojson = [g for g in graph.objects(location, LOCN.geometry) if str(g).startswith("{")]
    outline = shapely.from_geojson(str(geojson[0]))
    # Independent expectation: Gironde's communes' own contours, merged here.
    referential = service.referential()
    members = referential.resolve("departement:33").communes
    expected = shapely.union_all([referential.commune_geometry(c) for c in members
                                  if referential.commune_geometry(c) is not None])
    assert all(abs(a - b) < 0.02 for a, b in zip(outline.bounds, expected.bounds))
    source = URIRef(f"{SITE}/dataset/population-communes")
    assert (ref, DCTERMS.source, source) in graph
    assert (ref, PROV.wasDerivedFrom, source) in graph
    [temporal] = list(graph.objects(ref, DCTERMS.temporal))
    dates = {str(v)[:10] for _, v in graph.predicate_objects(temporal)}
    assert {"2021-01-01", "2023-12-31"} <= dates
    [licence] = list(graph.objects(ref, DCTERMS.license))
    assert isinstance(licence, URIRef) and str(licence).startswith("http")
    assert "odbl" in str(licence).lower() or "odc" in str(licence).lower()
    [distribution] = list(graph.objects(ref, DCAT.distribution))
    assert str(graph.value(distribution, DCTERMS["format"])) == "CSV"
    assert graph.value(distribution, DCAT.mediaType) == URIRef(
        "https://www.iana.org/assignments/media-types/text/csv")
    assert graph.value(distribution, DCTERMS.license) == licence


def test_dataset_endpoint_speaks_the_territory_and_its_source(app, published):
    _check_dataset(_graph(app, f"/dataset/{published['name']}.ttl"), published)
    _check_dataset(_graph(app, f"/dataset/{published['name']}.rdf", "xml"), published)
    jsonld = _graph(app, f"/dataset/{published['name']}.jsonld", "json-ld")
    _check_dataset(jsonld, published)


def test_catalogue_endpoint_lists_the_territory_dataset(app, published):
    graph = _graph(app, "/catalog.ttl")
    _check_dataset(graph, published)
    datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
    source_id = call(app, "package_show", id="population-communes")["result"]["id"]
    source = URIRef(f"{SITE}/dataset/{source_id}")
    assert datasets == {source, URIRef(f"{SITE}/dataset/{published['id']}")}
    # The source dataset has no territory: DCAT-AP's output only, no dataclic triples.
    assert not list(graph.objects(source, PROV.wasDerivedFrom))


def test_a_dataset_without_territory_is_left_to_dcat_ap(app, org):
    dataset = factories.Dataset(owner_org=org["id"], license_id="cc-by")
    graph = _graph(app, f"/dataset/{dataset['name']}.ttl")
    ref = URIRef(f"{SITE}/dataset/{dataset['id']}")
    assert (ref, RDF.type, DCAT.Dataset) in graph
    assert not list(graph.objects(ref, DCTERMS.spatial))
    assert not list(graph.objects(ref, DCTERMS.source))
    json.dumps([str(t) for t in graph])  # serialisable, no broken literal
