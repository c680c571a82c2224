"""Harvester test setup: real PostgreSQL (with ckanext-harvest's tables), the search stand-in,
and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .fixture_server import FixtureServer

HARVEST_PLUGINS = (
    "dataclic_pgsearch dataclic dataclic_udata dataclic_ods dataclic_hubeau "
    "dataclic_georisques dataclic_wfs dataclic_datafair harvest"
)

harvest_marks = [
    pytest.mark.ckan_config("ckan.plugins", HARVEST_PLUGINS),
    pytest.mark.ckan_config("ckanext.dataclic.harvest.allowed_hosts", "127.0.0.1"),
    pytest.mark.usefixtures("harvest_db"),
]


@pytest.fixture
def server():
    srv = FixtureServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def harvest_db(clean_db, clean_index, migrate_db_for, with_plugins):
    # clean_db rebuilds only CKAN core's tables; ckanext-harvest's come from its migrations.
    migrate_db_for("harvest")


@pytest.fixture
def org():
    from ckan.tests import factories

    return factories.Organization()


def make_source(url: str, source_type: str, config: dict[str, Any] | str | None,
                org: dict[str, Any], name: str = "src") -> dict[str, Any]:
    from ckan.tests import helpers

    text = config if isinstance(config, str) else json.dumps(config or {})
    return helpers.call_action(
        "harvest_source_create", name=name, title=name, url=url, source_type=source_type,
        config=text, owner_org=org["id"], frequency="MANUAL",
    )


def run_job(source_id: str) -> dict[str, Any]:
    """One harvest job through every stage, in process; returns a report of it."""
    from ckan import model
    from ckan.plugins import toolkit
    from ckanext.harvest import queue
    from ckanext.harvest.model import HarvestJob, HarvestObject

    context = {"ignore_auth": True, "user": ""}
    job_dict = toolkit.get_action("harvest_job_create")(context, {"source_id": source_id})
    job = HarvestJob.get(job_dict["id"])
    job.status = "Running"
    job.save()
    source = toolkit.get_action("harvest_source_show")(context, {"id": source_id})
    harvester = queue.get_harvester(source["source_type"])
    ids = queue.gather_stage(harvester, job)
    results: dict[str, Any] = {}
    for obj_id in ids if isinstance(ids, list) else []:
        obj = HarvestObject.get(obj_id)
        queue.fetch_and_import_stages(harvester, obj)
        results[obj.guid] = {
            "obj_id": obj_id,
            "status": obj.report_status,
            "package_id": obj.package_id,
            "errors": [e.message for e in obj.errors],
        }
    # objects closed at the gather stage (unchanged) are never queued: report them too
    for obj in HarvestObject.filter(harvest_job_id=job.id).all():
        results.setdefault(obj.guid, {
            "obj_id": obj.id,
            "status": obj.report_status,
            "package_id": obj.package_id,
            "errors": [e.message for e in obj.errors],
        })
    toolkit.get_action("harvest_jobs_run")(context, {"source_id": source_id})
    model.Session.remove()
    job = HarvestJob.get(job_dict["id"])
    return {
        "objects": results,
        "status": job.status,
        "gather_errors": [e.message for e in job.gather_errors],
        "job_id": job.id,
    }


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {guid: obj["status"] for guid, obj in report["objects"].items()}


def show(package_id: str) -> dict[str, Any]:
    from ckan.tests import helpers

    return helpers.call_action("package_show", id=package_id)
