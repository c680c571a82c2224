"""Background jobs of ckanext-dataclic, run by ``ckan jobs worker`` (RQ on Redis).

One function per task. Each is idempotent: a job run twice, or run after its work was done
elsewhere, changes nothing.
"""
from __future__ import annotations

import logging

import ckan.plugins.toolkit as tk

log = logging.getLogger(__name__)


def detect_profile(resource_id: str) -> None:
    """Detect the extraction profile of a resource; refresh extracts published from it when
    its content changed."""
    from ckanext.dataclic.extraction import publication, service
    from ckanext.dataclic.model import extraction as store

    try:
        resource = service.show_resource(resource_id)
    except tk.ObjectNotFound:
        log.info("Resource %s is gone; no profile to detect", resource_id)
        return
    record = service.detect(resource)
    log.info("Profile of resource %s: %s", resource_id, record.get("status"))
    if service.wants_index(resource, record):
        tk.enqueue_job(build_index, [resource_id], title=f"dataclic index {resource_id[:8]}")
    if not service.settings().auto_refresh:
        return
    version = record.get("content_version")
    for item in store.list_publications(source_resource_id=resource_id):
        if item["content_version"] != version:
            publication.enqueue_refresh(item["resource_id"])


def check_package(package_id: str) -> None:
    """After a dataset update (a harvest import, say): detect the resources that changed."""
    from ckanext.dataclic.extraction import service
    from ckanext.dataclic.model import extraction as store

    try:
        package = tk.get_action("package_show")({"ignore_auth": True}, {"id": package_id})
    except tk.ObjectNotFound:
        return
    for resource in package.get("resources", []):
        current = store.get_profile(resource["id"])
        version = service.content_version(resource)
        # A pending record of this version has its own detection job (resource hooks).
        if current is None or current["content_version"] != version:
            detect_profile(resource["id"])


def build_index(resource_id: str) -> None:
    """Build the engine's index of a large CSV resource, once per file version."""
    from ckanext.dataclic.extract import ExtractionError
    from ckanext.dataclic.extraction import service

    try:
        resource = service.show_resource(resource_id)
        meta = service.build_index(resource)
    except tk.ObjectNotFound:
        log.info("Resource %s is gone; no index to build", resource_id)
        return
    except (ExtractionError, service.SourceError) as error:
        # Extractions still work without the index: they scan the file.
        log.warning("No index for resource %s: %s", resource_id, error)
        return
    if meta is not None:
        log.info("Index of resource %s: %s rows in %s s", resource_id, meta.get("rows"),
                 meta.get("build_s"))


def run_extraction(extraction_id: str) -> None:
    from ckanext.dataclic.extraction import service

    record = service.run(extraction_id)
    log.info("Extraction %s: %s", extraction_id, record and record["status"])


def refresh_publication(resource_id: str) -> None:
    """Re-extract a published extract and replace its file (see publication.refresh)."""
    from ckanext.dataclic.extraction import publication

    outcome = publication.refresh(resource_id)
    log.info("Refresh of published resource %s: %s", resource_id, outcome)
