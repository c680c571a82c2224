"""dataclic in the plugin stack regional portals run: ckanext-spatial (spatial_metadata,
spatial_query), ckanext-dcat (dcat, structured_data), ckanext-scheming (scheming_datasets
with ckanext-dcat's DCAT-AP schema plus dataclic's snippet) and ckanext-harvest."""
from __future__ import annotations

import pytest
from ckan.tests import factories, helpers
from rdflib import Graph, URIRef
from rdflib.namespace import DCTERMS

from ckanext.dataclic.model import extraction as store
from ckanext.dataclic.scheming_schema import merged_schema, read_schema

from .conftest import communes_csv, gironde_and_landes, run_jobs, upload
from .test_actions import call

PLUGINS = ("dataclic_pgsearch dataclic harvest dataclic_udata spatial_metadata spatial_query "
           "dcat structured_data scheming_datasets")
BASE_SCHEMA = "ckanext.dcat.schemas:dcat_ap_recommended.yaml"

pytestmark = [
    pytest.mark.usefixtures("stack"),
    pytest.mark.ckan_config("ckan.plugins", PLUGINS),
    pytest.mark.ckan_config("scheming.presets",
                            "ckanext.scheming:presets.json ckanext.dcat.schemas:presets.yaml"),
    pytest.mark.ckan_config("ckanext.dcat.rdf.profiles", "euro_dcat_ap_3 dataclic_territory"),
]


@pytest.fixture()
def schema_file(tmp_path, ckan_config, monkeypatch):
    """DCAT-AP (ckanext-dcat's schema) + dataclic's snippet, as the README tells."""
    import yaml

    path = tmp_path / "dataset_schema.yaml"
    path.write_text(yaml.safe_dump(merged_schema(read_schema(BASE_SCHEMA))), encoding="utf-8")
    monkeypatch.setitem(ckan_config, "scheming.dataset_schemas", path.as_uri())
    return path


@pytest.fixture()
def stack(schema_file, clean_index, extraction_env, with_test_worker, migrate_db_for):
    migrate_db_for("harvest")
    return extraction_env


@pytest.fixture()
def source(stack, org):
    dataset = factories.Dataset(
        owner_org=org["id"], name="population-communes", title="Population des communes",
        notes="Population légale des communes.", license_id="odc-odbl",
        temporal_coverage=[{"start": "2021-01-01", "end": "2023-12-31"}])
    resource = factories.Resource(package_id=dataset["id"], name="population.csv",
                                  upload=upload(communes_csv(gironde_and_landes()), "p.csv"))
    run_jobs()
    return dataset, resource


def _publish(app, editor, org, resource, perimeter="epci:243300316"):
    record = call(app, "dataclic_extract", user=editor, resource_id=resource["id"],
                  perimeter=perimeter, format="csv")["result"]
    return call(app, "dataclic_publish", user=editor, id=record["id"],
                owner_org=org["name"])["result"]


def test_publication_keeps_dataclic_fields_through_scheming(app, editor, org, source):
    _dataset, resource = source
    result = _publish(app, editor, org, resource)
    published = call(app, "package_show", user=editor, id=result["package_id"])["result"]
    # scheming fields are top-level keys: the snippet's declarations kept them.
    assert published["dataclic_perimeter"] == "epci:243300316"
    assert published["dataclic_perimeter_name"] == "Bordeaux Métropole"
    assert published["dataclic_rows_kept"] == "28"
    assert published["dataclic_geozones"] == "fr:epci:243300316"
    assert published["spatial"].startswith('{"type":')
    assert published["temporal_coverage"] == [{"start": "2021-01-01", "end": "2023-12-31"}]
    # The dataset page (scheming's template) shows dataclic's provenance block.
    body = app.get(f"/dataset/{result['package_name']}").get_data(as_text=True)
    assert "Population des communes" in body and "Bordeaux Métropole" in body
    # The source's resource page (scheming's template) still offers the extraction widget.
    page = app.get(f"/dataset/population-communes/resource/{resource['id']}")
    assert page.status_code == 200
    assert 'data-module="dataclic-extract"' in page.get_data(as_text=True)


def test_spatial_search_and_dcat_find_the_published_territory(app, editor, org, source):
    _dataset, resource = source
    result = _publish(app, editor, org, resource)
    found = helpers.call_action("package_search", extras={"ext_bbox": "-0.7,44.8,-0.5,44.9"})
    assert [d["name"] for d in found["results"]] == [result["package_name"]]
    assert helpers.call_action("package_search", extras={
        "ext_bbox": "5,45,6,46"})["count"] == 0
    graph = Graph()
    graph.parse(data=app.get(f"/dataset/{result['package_name']}.ttl").get_data(as_text=True),
                format="turtle")
    ref = URIRef(f"http://test.ckan.net/dataset/{result['package_id']}")
    identifiers = {str(i) for loc in graph.objects(ref, DCTERMS.spatial)
                   for i in graph.objects(loc, DCTERMS.identifier)}
    assert identifiers == {"fr:epci:243300316"}
    # structured_data embeds schema.org JSON-LD in the dataset page.
    body = app.get(f"/dataset/{result['package_name']}").get_data(as_text=True)
    assert "application/ld+json" in body


def test_refresh_records_its_outcome_in_scheming_fields(app, editor, org, source):
    _dataset, resource = source
    result = _publish(app, editor, org, resource)
    run_jobs()
    fewer = [c for c in gironde_and_landes() if c != "33063"]
    helpers.call_action("resource_patch", id=resource["id"],
                        upload=upload(communes_csv(fewer), "p.csv"))
    run_jobs()
    item = store.get_publication(result["resource_id"])
    assert item["refresh_status"] == "ok", item["refresh_message"]
    published = call(app, "package_show", user=editor, id=result["package_id"])["result"]
    assert published["dataclic_refresh_status"] == "ok"
    assert published["dataclic_perimeter"] == "epci:243300316"  # kept by the patch
    assert published["resources"][0]["dataclic_rows_kept"] == "27"


def test_scheming_schema_command_merges_the_snippet(cli, tmp_path):
    from ckanext.dataclic.cli import scheming_schema

    target = tmp_path / "schema.yaml"
    out = cli.invoke(scheming_schema, [BASE_SCHEMA, "-o", str(target)])
    assert out.exit_code == 0, out.output
    import yaml

    fields = [f["field_name"] for f in yaml.safe_load(target.read_text())["dataset_fields"]]
    assert fields[:2] == ["title", "name"] and "dataclic_perimeter" in fields
    assert len(fields) == len(set(fields))
    out = cli.invoke(scheming_schema, ["no.such.module:schema.yaml"])
    assert out.exit_code != 0 and "Cannot read the scheming schema" in out.output
    assert "Traceback" not in out.output
