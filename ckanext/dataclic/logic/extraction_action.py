"""Extraction actions: profiles of resources, extractions, publication (``dataclic_*``).

The record format is the contract of ``docs/extraction.md`` (the widget relies on it).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.logic import extraction_schema as schema

log = logging.getLogger(__name__)


def _validate(data_dict: dict[str, Any], navl_schema: dict, context: dict) -> dict[str, Any]:
    data, errors = tk.navl_validate(data_dict, navl_schema, context)
    if errors:
        raise tk.ValidationError(errors)
    return data


def _resource(context: dict[str, Any], resource_id: str) -> dict[str, Any]:
    try:
        return tk.get_action("resource_show")(
            {"user": context.get("user"), "auth_user_obj": context.get("auth_user_obj")},
            {"id": resource_id})
    except tk.ObjectNotFound:
        raise tk.ObjectNotFound(tk._("Resource not found")) from None


def _logged_in(context: dict[str, Any]) -> Any:
    """The user of the request, or None for anonymous visitors."""
    user = context.get("auth_user_obj")
    if user is None or getattr(user, "is_anonymous", False) or not getattr(user, "id", None):
        return None
    return user


def _client() -> str | None:
    """The requesting client (a digest of its address): the remote address, or the one
    forwarded by a trusted proxy (``ckanext.dataclic.extract.trusted_proxies``)."""
    from ckanext.dataclic.extraction import admission, settings

    try:
        remote = tk.request.remote_addr or ""
        forwarded = tk.request.headers.get("X-Forwarded-For")
    except (RuntimeError, AttributeError):
        return None
    address = admission.client_address(remote, forwarded,
                                       settings.settings().trusted_proxies)
    return admission.client_key(address)


@tk.side_effect_free
def dataclic_profile_show(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """How a resource is tied to territory, and the modes and formats it allows.

    :param resource_id: the resource
    :returns: ``{resource_id, status: pending|detected|none|error, profile, message, modes,
        formats, formats_by_mode, geometric, grid, corrected, updated}``; for a gridded
        resource (NetCDF, GeoTIFF, DRIAS text) ``grid`` is true and ``profile`` is the
        grid's (``kind: grid``, variables, dimensions with their labels, CRS, grid)
    """
    from ckanext.dataclic.extraction import service
    from ckanext.dataclic.model import extraction as store

    # Validated first: the auth functions look the ids up.
    data = _validate(data_dict, schema.profile_show_schema(), context)
    tk.check_access("dataclic_profile_show", context, data)
    _resource(context, data["resource_id"])
    return service.profile_view(data["resource_id"], store.get_profile(data["resource_id"]))


def dataclic_profile_update(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """Correct the detected profile (editors of the dataset): for instance name the code
    column. The fields are those of ``dataclic_profile_show``'s ``profile``; missing ones keep
    their detected value. A later content change re-detects, keeping the correction while the
    file's columns stay the same.
    """
    from ckanext.dataclic.extract import ExtractionError, ExtractionProfile
    from ckanext.dataclic.extraction import service
    from ckanext.dataclic.model import extraction as store

    # Validated first: the auth functions look the ids up.
    data = _validate(data_dict, schema.profile_update_schema(), context)
    tk.check_access("dataclic_profile_update", context, data)
    resource = _resource(context, data["resource_id"])
    current = store.get_profile(resource["id"])
    if _grid_resource(resource, current):
        return _correct_grid(resource, current, data["profile"])
    before = dict((current or {}).get("profile") or {})
    coverage = before.pop("coverage", None)
    merged = dict(before)
    merged.update({k: v for k, v in data["profile"].items() if k != "coverage"})
    try:
        profile = ExtractionProfile.from_dict(merged)
    except (ExtractionError, TypeError, ValueError) as error:
        raise tk.ValidationError({"profile": [tk._("Invalid profile: {reason}").format(
            reason=tk._(str(error)))]}) from error
    columns = profile.columns
    for key in ("code_column", "lat_column", "lon_column", "point_column", "wkt_column"):
        value = getattr(profile, key)
        if value and columns and value not in columns:
            raise tk.ValidationError({"profile": [tk._(
                "The column {column} is not in the file").format(column=value)]})
    corrected = profile.to_dict()
    recompute_later = False
    if coverage and service.keeps_coverage(before, corrected):
        corrected["coverage"] = coverage
    elif service.allowed_modes(corrected):
        if service.small_local_file(resource):
            corrected = service.with_coverage(resource, corrected)
        else:   # no coverage key: the detection job below computes it
            recompute_later = True
    store.save_profile(resource["id"], status="detected" if service.allowed_modes(
        profile.to_dict()) else "none", profile=corrected,
        message=None if service.allowed_modes(profile.to_dict()) else
        "No commune-code column and no geometry were found in this file, so it cannot be "
        "cut to a territory",
        content_version=service.content_version(resource), corrected=True)
    if recompute_later:
        from ckanext.dataclic import jobs

        try:
            tk.enqueue_job(jobs.detect_profile, [resource["id"]],
                           title=f"dataclic profile {resource['id'][:8]}")
        except Exception:  # Redis down: the profile stands without a coverage
            log.exception("Cannot enqueue the coverage of resource %s", resource["id"])
    return service.profile_view(resource["id"], store.get_profile(resource["id"]))


def _grid_resource(resource: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """A gridded resource: its profile is a grid's, or its local file is a grid (e.g. a
    NetCDF whose CRS could not be detected)."""
    from ckanext.dataclic.extraction import grids, service

    if grids.is_grid((current or {}).get("profile")):
        return True
    path = service.local_source(resource)
    return path is not None and grids.is_grid_path(path)


def _correct_grid(resource: dict[str, Any], current: dict[str, Any] | None,
                  changes: dict[str, Any]) -> dict[str, Any]:
    """Detect a grid's profile again with the editor's CRS / axes corrections."""
    from ckanext.dataclic.extraction import grids, service
    from ckanext.dataclic.model import extraction as store

    try:
        path = service.source_file(resource)
    except service.SourceError as error:
        raise tk.ValidationError({"profile": [tk._(str(error))]}) from error
    found = grids.corrected(path, (current or {}).get("profile"), changes,
                            grids.resource_name(resource))
    store.save_profile(resource["id"], status="detected", profile=found, message=None,
                       content_version=service.content_version(resource), corrected=True)
    return service.profile_view(resource["id"], store.get_profile(resource["id"]))


@tk.side_effect_free
def dataclic_extract_preview(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """What an extraction would give, told without running it.

    :param resource_id: the resource
    :param perimeter: ``kind:code``
    :param mode: optional, as for ``dataclic_extract`` (default: the profile's first mode)
    :returns: ``{perimeter, perimeter_name, mode, rows_estimate, exact, covered, source}``.
        ``source`` says where the figure comes from: ``cache`` (a finished extraction of
        the same file version and perimeter: exact), ``index`` (the engine's code index of
        the file: exact), ``coverage`` (the file's coverage recorded with its profile: 0
        and ``covered: false`` when none of the perimeter's communes, or for geometric
        modes nothing of its extent, is in the file; else an estimate) or ``null`` (no
        figure: ``rows_estimate`` is null).
    """
    from ckanext.dataclic.extraction import preview
    from ckanext.dataclic.territories import PerimeterError

    # Validated first: the auth functions look the ids up.
    data = _validate(data_dict, schema.preview_schema(), context)
    tk.check_access("dataclic_extract_preview", context, data)
    resource = _resource(context, data["resource_id"])
    try:
        return preview.preview(resource, data["perimeter"], data.get("mode") or None)
    except PerimeterError as error:
        raise tk.ValidationError({"perimeter": [tk._(
            "This perimeter does not resolve: {reason}").format(
                reason=error.render(tk._))]}) from error
    except preview.PreviewError as error:
        raise tk.ValidationError({error.field: [error.message]}) from error


def dataclic_extract(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """Extract a resource for a perimeter.

    :param resource_id: the resource
    :param perimeter: ``kind:code`` (``epci:243300316``…)
    :param mode: ``filter``, ``intersects`` or ``clip``; for gridded resources ``stats``
        or ``clip`` (default: from the profile)
    :param format: ``csv`` (default), ``geojson``, ``gpkg``, ``shp`` or ``parquet``; for
        gridded resources ``csv``, ``geojson``, ``gpkg`` (stats), ``netcdf``, ``geotiff``
        (clip)
    :param out_crs: output CRS (default ``EPSG:4326``)
    :param enrich: add commune, EPCI, département and région columns
    :param variables: gridded resources: variables to use (a list, or comma-separated);
        default all
    :param labels: gridded resources: ``{dimension: [labels]}`` to keep (a JSON object);
        default every label
    :param threshold: gridded resources, ``stats`` mode: also the share of the area
        above / below this number
    :param wide: gridded resources, ``stats`` mode in CSV: one row per commune
    :returns: an extraction record; ``done`` at once for small uploaded files (or an
        identical cached extraction), else ``queued``. Identical concurrent requests share
        one record.
    """
    from ckanext.dataclic.extraction import service

    # Validated first: the auth functions look the ids up.
    data = _validate(data_dict, schema.extract_schema(), context)
    tk.check_access("dataclic_extract", context, data)
    resource = _resource(context, data["resource_id"])
    user = _logged_in(context)
    request = service.ExtractionRequest(
        resource=resource, perimeter=data["perimeter"], format=data["format"],
        mode=data.get("mode") or None, out_crs=data.get("out_crs") or None,
        enrich=data["enrich"], user_id=getattr(user, "id", None), client=_client(),
        anonymous=user is None, variables=data_dict.get("variables"),
        labels=data_dict.get("labels"), threshold=data_dict.get("threshold"),
        wide=data_dict.get("wide"))
    try:
        record, cached = service.request_extraction(request)
    except service.SourceError as error:
        from ckanext.dataclic.shown import shorten

        raise tk.ValidationError({"resource_id": [shorten(tk._(str(error)), 400)]}) from error
    return service.record_view(record, cached=cached)


@tk.side_effect_free
def dataclic_extract_show(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """An extraction record: status, progress, report, download URL or error.

    :param id: the extraction id
    """
    from ckanext.dataclic.extraction import service
    from ckanext.dataclic.model import extraction as store

    # Validated first: the auth functions look the ids up.
    data = _validate(data_dict, schema.extract_show_schema(), context)
    tk.check_access("dataclic_extract_show", context, data)
    record = store.get_extraction(data["id"])
    if record is None:
        raise tk.ObjectNotFound(tk._("Extraction not found"))
    if record["status"] in store.ACTIVE_STATUSES:
        service.expire_stale()
        record = store.get_extraction(data["id"]) or record
    return service.record_view(record)


@tk.side_effect_free
def dataclic_extract_list(context: dict[str, Any], data_dict: dict[str, Any]) -> list:
    """Recent extractions of a resource, or of the current user (``mine``).

    :param resource_id: optional resource
    :param mine: only the current user's (default false; the default too without
        ``resource_id`` for users who are not sysadmins)
    :param limit: at most this many (1-100, default 20), newest first
    """
    from ckanext.dataclic.extraction import service
    from ckanext.dataclic.model import extraction as store

    # Validated first: the auth functions look the ids up.
    data = _validate(data_dict, schema.extract_list_schema(), context)
    tk.check_access("dataclic_extract_list", context, data)
    user = _logged_in(context)
    if data.get("resource_id"):
        _resource(context, data["resource_id"])
    mine = data["mine"] or (not data.get("resource_id") and not getattr(user, "sysadmin",
                                                                       False))
    if mine and user is None:
        raise tk.NotAuthorized(tk._("Log in to list your extractions"))
    service.expire_stale()
    records = store.list_extractions(resource_id=data.get("resource_id"),
                                     user_id=user.id if mine and user else None,
                                     limit=data["limit"])
    return [service.record_view(r) for r in records]


def dataclic_publish(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """Publish a finished extraction into an organisation, with its provenance.

    :param id: the extraction id
    :param owner_org: the organisation (needs package_create there)
    :param package_id: optional existing dataset to add the resource to (needs
        package_update)
    :param resource_id: optional resource of that dataset to replace
    :returns: ``{package_id, package_name, resource_id, url}``
    """
    from ckanext.dataclic.extraction import publication
    from ckanext.dataclic.model import extraction as store

    # Validated first: the auth functions look the ids up.
    data = _validate(data_dict, schema.publish_schema(), context)
    tk.check_access("dataclic_publish", context, data)
    if _logged_in(context) is None:
        raise tk.NotAuthorized(tk._("Log in to publish an extract"))
    record = store.get_extraction(data["id"])
    if record is None:
        raise tk.ObjectNotFound(tk._("Extraction not found"))
    tk.check_access("dataclic_extract_show", context, {"id": record["id"]})
    return publication.publish(context, record, data["owner_org"],
                               package_id=data.get("package_id"),
                               resource_id=data.get("resource_id"))


def get_actions() -> dict[str, Callable[..., Any]]:
    return {
        "dataclic_profile_show": dataclic_profile_show,
        "dataclic_profile_update": dataclic_profile_update,
        "dataclic_extract_preview": dataclic_extract_preview,
        "dataclic_extract": dataclic_extract,
        "dataclic_extract_show": dataclic_extract_show,
        "dataclic_extract_list": dataclic_extract_list,
        "dataclic_publish": dataclic_publish,
    }
