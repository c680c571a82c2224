"""What happens when a resource or dataset changes: profile detection (and, through it,
the refresh of published extracts) in background jobs."""
from __future__ import annotations

import logging
from typing import Any

import ckan.plugins.toolkit as tk

log = logging.getLogger(__name__)


def _enqueue(function: Any, argument: str, title: str) -> None:
    try:
        tk.enqueue_job(function, [argument], title=title)
    except Exception:  # Redis down: the resource is saved; `ckan dataclic` can catch up
        log.exception("Cannot enqueue %s", title)


def resource_changed(resource: dict[str, Any]) -> None:
    """After commit of a resource create/update: detect its profile if its content changed."""
    from ckanext.dataclic import jobs
    from ckanext.dataclic.extraction import service
    from ckanext.dataclic.model import extraction as store

    if not resource.get("id"):
        return
    try:
        version = service.content_version(resource)
        if not store.mark_profile_pending(resource["id"], version):
            return
    except Exception:
        log.exception("Cannot record the pending profile of resource %s", resource.get("id"))
        return
    _enqueue(jobs.detect_profile, resource["id"], f"dataclic profile {resource['id'][:8]}")


def dataset_changed(package_id: str | None) -> None:
    """Before commit of a dataset update: check its resources once the change is committed."""
    if not package_id:
        return
    from ckan import model
    from sqlalchemy import event

    from ckanext.dataclic import jobs

    session = model.Session()

    def after_commit(_session: Any) -> None:
        _enqueue(jobs.check_package, package_id, f"dataclic check {package_id[:8]}")

    event.listen(session, "after_commit", after_commit, once=True)
