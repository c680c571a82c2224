"""dataclic's harvesters in a portal that also runs ckanext-spatial, ckanext-dcat and
ckanext-scheming (DCAT-AP schema + dataclic's snippet)."""

from __future__ import annotations

import pytest
import yaml

from ckanext.dataclic.scheming_schema import merged_schema, read_schema

from .conftest import HARVEST_PLUGINS, make_source, run_job, show, statuses
from .test_udata import search_route, udata_dataset

STACK = (f"{HARVEST_PLUGINS} spatial_metadata spatial_query dcat structured_data "
         "scheming_datasets")


@pytest.fixture
def stack_schema(tmp_path, ckan_config, monkeypatch):
    path = tmp_path / "dataset_schema.yaml"
    schema = merged_schema(read_schema("ckanext.dcat.schemas:dcat_ap_recommended.yaml"))
    path.write_text(yaml.safe_dump(schema), encoding="utf-8")
    monkeypatch.setitem(ckan_config, "scheming.dataset_schemas", path.as_uri())


pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", STACK),
    pytest.mark.ckan_config("ckanext.dataclic.harvest.allowed_hosts", "127.0.0.1"),
    pytest.mark.ckan_config("scheming.presets",
                            "ckanext.scheming:presets.json ckanext.dcat.schemas:presets.yaml"),
    pytest.mark.usefixtures("stack_schema", "harvest_db"),
]


def test_udata_harvest_into_a_scheming_portal(server, org):
    search_route(server, [udata_dataset(1), udata_dataset(2)])
    source = make_source(server.url, "dataclic_udata",
                         {"organization": "o1", "max_retries": 0, "read_timeout": 5}, org)

    report = run_job(source["id"])

    assert report["status"] == "Finished", report
    assert set(statuses(report).values()) == {"added"}, report
    dataset = show(report["objects"]["65a000000000000000000002"]["package_id"])
    fields = {**{e["key"]: e["value"] for e in dataset.get("extras") or []}, **dataset}
    assert fields["dataclic_harvester"] == "dataclic_udata"
    assert fields["dataclic_remote_id"] == "65a000000000000000000002"
    assert fields["spatial_zones"] == "country:fr"
    # A changed record updates through scheming's validation too; the other is skipped.
    search_route(server, [udata_dataset(1, modified="2026-03-01T00:00:00+00:00",
                                        title="Stations (révisé)"), udata_dataset(2)])
    again = run_job(source["id"])
    assert again["status"] == "Finished"
    assert statuses(again) == {"65a000000000000000000001": "updated",
                               "65a000000000000000000002": "not modified"}, again
    updated = show(again["objects"]["65a000000000000000000001"]["package_id"])
    fields = {**{e["key"]: e["value"] for e in updated.get("extras") or []}, **updated}
    assert updated["title"] == "Stations (révisé)"
    assert fields["dataclic_remote_id"] == "65a000000000000000000001"
