"""Publish a finished extraction as a CKAN dataset or resource, with its provenance, and
keep it up to date when its source changes."""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.extraction import service
from ckanext.dataclic.grid_panel import GRID_FORMAT_LABELS
from ckanext.dataclic.grid_provenance import grid_options, grid_provenance, json_dict
from ckanext.dataclic.logic import dataset_fields
from ckanext.dataclic.logic.territory_metadata import standard_territory_fields
from ckanext.dataclic.model import extraction as store
from ckanext.dataclic.portal_language import date_default, gettext_default, ngettext_default

log = logging.getLogger(__name__)

# Provenance keys, on the published resource (and the dataset's extras when we create it).
PREFIX = "dataclic_"
REFRESH_WAIT_S = 3600


def _upload(path: Path, filename: str, fmt: str) -> Any:
    from werkzeug.datastructures import FileStorage

    content_type = service.CONTENT_TYPES.get(fmt) or "application/octet-stream"
    return FileStorage(stream=path.open("rb"), filename=filename,
                       content_type=content_type.split(";")[0])


def provenance(record: dict[str, Any], source_package: dict[str, Any],
               source_resource: dict[str, Any]) -> dict[str, str]:
    report = json_dict(record["report"])
    grid = grid_provenance(record, report)
    rows_kept = report.get("rows_written") if grid else report.get("rows_kept", "")
    return {
        "dataclic_source_package": source_package["name"],
        "dataclic_source_package_title": source_package.get("title") or source_package["name"],
        "dataclic_source_resource": source_resource["id"],
        "dataclic_perimeter": record["perimeter"],
        "dataclic_perimeter_name": record["perimeter_name"],
        "dataclic_cog_vintage": record["vintage"],
        "dataclic_extraction_date": (record["finished"] or store.now()).isoformat(
            timespec="seconds"),
        "dataclic_mode": record["mode"],
        "dataclic_rows_read": str(report.get("rows_read", "")),
        "dataclic_rows_kept": "" if rows_kept in (None, 0) and grid else str(rows_kept),
        "dataclic_extraction_id": record["id"],
        **grid,
    }


def _standard_fields(record: dict[str, Any], source_package: dict[str, Any]) -> dict[str, str]:
    """The territory's standard metadata (outline, geozones, temporal coverage); none when
    the perimeter no longer resolves in the active referential."""
    from ckanext.dataclic.territories import PerimeterError

    try:
        return standard_territory_fields(record["perimeter"], referential=service.referential(),
                                         source_package=source_package)
    except PerimeterError:
        log.warning("Perimeter %s not in the active referential: no standard metadata",
                    record["perimeter"])
        return {}


def _unique_name(base: str) -> str:
    name = base[:90].strip("-")
    candidate, number = name, 1
    while True:
        try:
            tk.get_action("package_show")({"ignore_auth": True}, {"id": candidate})
        except tk.ObjectNotFound:
            return candidate
        number += 1
        candidate = f"{name}-{number}"


def _rows(facts: dict[str, str]) -> int:
    try:
        return int(facts["dataclic_rows_kept"])
    except (KeyError, ValueError):
        return 0


def _mode_label(mode: str, grid: bool = False) -> str:
    """The selection mode as the panel names it, in the portal's default language."""
    if grid:
        return {"stats": gettext_default("Statistics per commune"),
                "clip": gettext_default("Clip the grid")}.get(mode, mode)
    labels = {
        "filter": gettext_default("Filter by commune code"),
        "intersects": gettext_default("Features touching the territory"),
        "clip": gettext_default("Features clipped to the territory"),
    }
    return labels.get(mode, mode)


def _resource_fields(record: dict[str, Any], source_resource: dict[str, Any],
                     facts: dict[str, str]) -> dict[str, Any]:
    """Name, format and description of a published resource; the description is in the
    portal's default language (portal_language), whatever the publisher's page language."""
    fmt = record["format"]
    title = source_resource.get("name") or record["filename"]
    rows = _rows(facts)
    label = service.FORMAT_LABELS.get(fmt) or GRID_FORMAT_LABELS.get(fmt, fmt)
    if facts.get("dataclic_grid"):
        return {"name": f"{title} — {record['perimeter_name']}", "format": label,
                "description": _grid_description(record, title, facts), **facts}
    return {
        "name": f"{title} — {record['perimeter_name']}",
        "format": label,
        "description": ngettext_default(
            "Extract of {source} for {territory} ({vintage}), {rows} row.",
            "Extract of {source} for {territory} ({vintage}), {rows} rows.", rows,
        ).format(source=title, territory=record["perimeter_name"], vintage=record["vintage"],
                 rows=facts["dataclic_rows_kept"]),
        **facts,
    }


def _grid_description(record: dict[str, Any], title: str, facts: dict[str, str]) -> str:
    """A published grid extract's description, in the portal's default language."""
    values = {"source": title, "territory": record["perimeter_name"],
              "vintage": record["vintage"], "variables": facts["dataclic_variables"],
              "rows": facts.get("dataclic_rows_kept") or "0"}
    if record["mode"] == "clip":
        return gettext_default(
            "Grid cells of {source} meeting {territory} ({vintage}); variables: "
            "{variables}.").format(**values)
    return ngettext_default(
        "Statistics per commune of {source} for {territory} ({vintage}); variables: "
        "{variables}; {rows} row.",
        "Statistics per commune of {source} for {territory} ({vintage}); variables: "
        "{variables}; {rows} rows.", _rows(facts)).format(**values)


def publish(context: dict[str, Any], record: dict[str, Any], owner_org: str,
            package_id: str | None = None, resource_id: str | None = None) -> dict[str, Any]:
    """Publish ``record`` (a finished extraction) into ``owner_org``.

    A new dataset unless ``package_id`` is given; a new resource unless ``resource_id``
    names one of that dataset to replace. Raises ValidationError/NotAuthorized/NotFound;
    a dataset created here is removed again if its file cannot be stored.
    """
    if record["status"] != "done" or not record.get("path") or not Path(record["path"]).is_file():
        raise tk.ValidationError({"id": [service.translate(
            "Only a finished extraction whose result is still available can be published; "
            "run it again")]})
    try:
        org = tk.get_action("organization_show")(
            {"ignore_auth": True}, {"id": owner_org, "include_datasets": False})
    except tk.ObjectNotFound as error:
        raise tk.ValidationError(
            {"owner_org": [service.translate("Organisation not found")]}) from error
    source_resource = service.show_resource(record["resource_id"])
    source_package = tk.get_action("package_show")({"ignore_auth": True},
                                                   {"id": source_resource["package_id"]})
    facts = provenance(record, source_package, source_resource)
    fields = _resource_fields(record, source_resource, facts)
    path = Path(record["path"])
    user_context = {"user": context.get("user"), "auth_user_obj": context.get("auth_user_obj")}
    if package_id:
        target = tk.get_action("package_show")(dict(user_context), {"id": package_id})
        if target.get("owner_org") not in (org["id"], None):
            raise tk.ValidationError({"package_id": [service.translate(
                "This dataset belongs to another organisation")]})
        tk.check_access("package_update", dict(user_context), {"id": target["id"]})
        if resource_id:
            if resource_id not in {r["id"] for r in target.get("resources", [])}:
                raise tk.ValidationError({"resource_id": [service.translate(
                    "This resource is not in the dataset")]})
            current = tk.get_action("resource_show")(dict(user_context), {"id": resource_id})
            resource = tk.get_action("resource_update")(
                dict(user_context),
                {**current, **fields, "url": "", "upload": _upload(path, record["filename"],
                                                                   record["format"])})
        else:
            resource = tk.get_action("resource_create")(
                dict(user_context),
                {"package_id": target["id"], **fields,
                 "upload": _upload(path, record["filename"], record["format"])})
        package = tk.get_action("package_show")({"ignore_auth": True}, {"id": target["id"]})
    else:
        if resource_id:
            raise tk.ValidationError({"resource_id": [service.translate(
                "A resource to replace needs its dataset (package_id)")]})
        tk.check_access("package_create", dict(user_context), {"owner_org": org["id"]})
        name = _unique_name(service.slug(f"{source_package['name']} {record['perimeter_name']}"))
        title = f"{source_package.get('title') or source_package['name']} — " \
                f"{record['perimeter_name']}"
        notes = gettext_default(
            "Extract of the dataset {source} for {territory}, cut with the {vintage} "
            "referential (selection: {mode}) on {date}."
        ).format(source=source_package.get("title") or source_package["name"],
                 territory=record["perimeter_name"], vintage=record["vintage"],
                 mode=_mode_label(record["mode"], bool(facts.get("dataclic_grid"))),
                 date=date_default(facts["dataclic_extraction_date"]))
        package = tk.get_action("package_create")(dict(user_context), {
            "name": name, "title": title, "owner_org": org["id"], "notes": notes,
            "license_id": source_package.get("license_id") or "notspecified",
            "private": bool(source_package.get("private")),
            **dataset_fields.as_package_fields(
                {**_standard_fields(record, source_package), **facts}),
        })
        try:
            resource = tk.get_action("resource_create")(
                {**user_context, "ignore_auth": True},
                {"package_id": package["id"], **fields,
                 "upload": _upload(path, record["filename"], record["format"])})
        except Exception:
            tk.get_action("dataset_purge")({"ignore_auth": True}, {"id": package["id"]})
            raise
    user = context.get("auth_user_obj")
    if getattr(user, "is_anonymous", False):
        user = None
    store.save_publication({
        "resource_id": resource["id"], "package_id": package["id"],
        "source_resource_id": source_resource["id"], "perimeter": record["perimeter"],
        "options": json.dumps({"mode": record["mode"], "format": record["format"],
                               "out_crs": record["out_crs"], "enrich": record["enrich"],
                               **grid_options(record)}),
        "extraction_id": record["id"], "user_id": getattr(user, "id", None),
        "content_version": service.content_version(source_resource),
        "vintage": record["vintage"], "published": store.now(),
        "last_refresh": None, "refresh_status": None, "refresh_message": None,
    })
    return {"package_id": package["id"], "package_name": package["name"],
            "resource_id": resource["id"],
            "url": f"{tk.config.get('ckan.site_url', '').rstrip('/')}/dataset/{package['name']}"}


def enqueue_refresh(resource_id: str) -> None:
    from ckanext.dataclic import jobs

    tk.enqueue_job(jobs.refresh_publication, [resource_id],
                   title=f"dataclic refresh {resource_id[:8]}",
                   rq_kwargs={"timeout": service.settings().job_timeout})


def stale_publications() -> list[dict[str, Any]]:
    """Publications whose source content or referential vintage changed since their
    last extraction."""
    return [item for item in store.list_publications() if is_stale(item)]


def _wait(record: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + REFRESH_WAIT_S
    while record["status"] in store.ACTIVE_STATUSES and time.monotonic() < deadline:
        time.sleep(0.5)
        service.expire_stale()
        record = store.get_extraction(record["id"]) or record
    return record


def is_stale(item: dict[str, Any]) -> bool:
    try:
        source = service.show_resource(item["source_resource_id"])
    except tk.ObjectNotFound:
        return True
    return (item["content_version"] != service.content_version(source)
            or item["vintage"] != service.referential().vintage)


def refresh(resource_id: str, *, force: bool = False) -> str:
    """Re-extract one published resource from its source; replace its file when it worked.

    Returns ``ok``, ``unchanged`` or ``failed``; the outcome and date are stored on the
    publication, the published resource and its dataset. The published file is left as it
    was when the extraction fails.
    """
    item = store.get_publication(resource_id)
    if item is None:
        return "failed"
    if not force and not is_stale(item):
        return "unchanged"  # another job did it already
    options = json.loads(item["options"])
    site = service.site_context()
    outcome, message = "failed", None
    try:
        source = service.show_resource(item["source_resource_id"])
        service.detect(source)
        # A grid extract is refreshed with the same variables, labels and threshold.
        accepted = {f.name for f in dataclasses.fields(service.ExtractionRequest)}
        choices = {k: v for k, v in options.items()
                   if k in ("variables", "labels", "threshold", "wide") and k in accepted}
        request = service.ExtractionRequest(
            resource=source, perimeter=item["perimeter"], format=options["format"],
            mode=options["mode"], out_crs=options["out_crs"], enrich=options["enrich"],
            user_id=item["user_id"], **choices)
        record, _cached = service.request_extraction(request, inline=True)
        record = _wait(record)
        if record["status"] != "done":
            message = record.get("error") or gettext_default("The extraction did not finish")
        elif record["id"] == item["extraction_id"]:
            outcome = "unchanged"
            store.update_publication(resource_id,
                                     content_version=service.content_version(source),
                                     vintage=record["vintage"])
        else:
            published = tk.get_action("resource_show")(dict(site), {"id": resource_id})
            source_package = tk.get_action("package_show")(dict(site),
                                                           {"id": source["package_id"]})
            facts = provenance(record, source_package, source)
            fields = _resource_fields(record, source, facts)
            tk.get_action("resource_update")(dict(site), {
                **published, **fields, "url": "",
                "upload": _upload(Path(record["path"]), record["filename"], record["format"])})
            store.update_publication(resource_id, extraction_id=record["id"],
                                     content_version=service.content_version(source),
                                     vintage=record["vintage"])
            outcome = "ok"
    except tk.ObjectNotFound:
        message = gettext_default("The source resource was deleted")
    except tk.ValidationError as error:
        message = "; ".join(f"{k}: {v}" for k, v in error.error_dict.items())
    except Exception as error:  # keep the published resource as it is, record why
        log.exception("Refresh of %s failed", resource_id)
        message = gettext_default("Unexpected error: {name}").format(name=type(error).__name__)
    when = store.now()
    store.update_publication(resource_id, last_refresh=when, refresh_status=outcome,
                             refresh_message=message)
    _record_outcome(item["package_id"], resource_id, when, outcome, message)
    return outcome


def _record_outcome(package_id: str, resource_id: str, when: Any, outcome: str,
                    message: str | None) -> None:
    site = service.site_context()
    values = {"dataclic_last_refresh": when.isoformat(timespec="seconds"),
              "dataclic_refresh_status": outcome,
              "dataclic_refresh_message": message or ""}
    try:
        package = tk.get_action("package_show")(dict(site), {"id": package_id})
        tk.get_action("package_patch")(dict(site), {
            "id": package_id, **dataset_fields.as_package_fields(
                values, package.get("type") or "dataset", package.get("extras") or [])})
    except (tk.ObjectNotFound, tk.ValidationError):
        log.warning("Cannot record the refresh outcome on dataset %s", package_id)
