"""Extraction profiles of resources: how a file is tied to territory, detected in a job
or within a request for small uploads, corrected by editors."""
from __future__ import annotations

import datetime
import logging
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.extraction import grids
from ckanext.dataclic.extraction.records import iso
from ckanext.dataclic.extraction.settings import (
    N_,
    TABULAR_FORMATS,
    VECTOR_FORMATS,
    SourceError,
    error_detail,
    settings,
    stored_message,
)
from ckanext.dataclic.extraction.settings import invalid as _invalid
from ckanext.dataclic.extraction.sources import (
    content_version,
    known_input_size,
    source_file,
    upload_path,
)
from ckanext.dataclic.model import extraction as store

log = logging.getLogger(__name__)


def referential() -> Any:
    from ckanext.dataclic.model import active_referential

    return active_referential.get()


def allowed_modes(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    if grids.is_grid(profile):
        return list(grids.GRID_MODES)
    modes = []
    if profile.get("code_column"):
        modes.append("filter")
    if profile.get("geometry", "none") != "none":
        modes += ["intersects", "clip"]
    return modes


def allowed_formats(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    if grids.is_grid(profile):
        return list(grids.GRID_FORMATS)
    if profile.get("geometry", "none") != "none":
        return list(VECTOR_FORMATS)
    return list(TABULAR_FORMATS)


def formats_by_mode(profile: dict[str, Any] | None) -> dict[str, list[str]]:
    """The formats each allowed mode can write (every mode: the profile's formats, except
    for grids: per-commune statistics as tables, clips as grids)."""
    if grids.is_grid(profile):
        return grids.formats_by_mode(profile)
    return {mode: allowed_formats(profile) for mode in allowed_modes(profile)}


def detect(resource: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
    """Detect and store the profile of ``resource`` for its current content version."""
    from ckanext.dataclic.extract import ExtractionError, detect_profile

    version = content_version(resource)
    current = store.get_profile(resource["id"])
    if (not force and current is not None and current["content_version"] == version
            and current["status"] != "pending"
            # A detected profile without a coverage key (detected before coverages existed,
            # or corrected with a large file): detect again to compute it.
            and (current["status"] != "detected" or "coverage" in (current["profile"] or {}))):
        return current
    status, message, found, detail = "detected", None, None, None
    try:
        path = source_file(resource)
        if grids.is_grid_path(path):  # an editor's corrections are kept
            found = grids.detect(path, ((current or {}).get("profile") or {}).get("overrides")
                                 if (current or {}).get("corrected") else None,
                                 grids.resource_name(resource))
        else:
            found = detect_profile(path, referential()).to_dict()
        if not allowed_modes(found):
            status = "none"
            message = ("No commune-code column and no geometry were found in this file, so "
                       "it cannot be cut to a territory")
    except (ExtractionError, SourceError) as error:
        status, message, detail = "error", str(error), error_detail(error)
    except Exception:  # a reader library failing on a strange file
        log.exception("Profile detection of resource %s failed", resource["id"])
        status, message = "error", "The file could not be read to detect its profile"
    corrected = False
    if (current is not None and current.get("corrected") and current.get("profile")
            and found is not None and not grids.is_grid(found)
            and current["profile"].get("columns") == found.get("columns")):
        try:
            engine_profile(current["profile"])
            found, status, message, corrected = current["profile"], "detected", None, True
        except ExtractionError:
            pass
    if status == "detected" and found is not None and not grids.is_grid(found):
        found = with_coverage(resource, found)
    store.save_profile(resource["id"], status=status, profile=found, message=message,
                       content_version=version, corrected=corrected, message_detail=detail)
    return store.get_profile(resource["id"]) or {}


COVERAGE_MAX_BYTES = 4 << 30


def engine_profile(stored: dict[str, Any]) -> Any:
    """The engine's profile from a stored one (which may carry a ``coverage``)."""
    from ckanext.dataclic.extract import ExtractionProfile

    return ExtractionProfile.from_dict({k: v for k, v in stored.items() if k != "coverage"})


def with_coverage(resource: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    """``profile`` with the file's coverage (codes present, rows per département, extent),
    computed by reading its code and coordinate columns once; without it when the file
    cannot be read or is over 4 GiB."""
    from ckanext.dataclic.extract.coverage import compute_coverage

    found: dict[str, Any] = {k: v for k, v in profile.items() if k != "coverage"}
    found["coverage"] = None   # tried: a null coverage is not computed again for this version
    try:
        path = source_file(resource)
        if path.stat().st_size <= COVERAGE_MAX_BYTES:
            found["coverage"] = compute_coverage(path, engine_profile(found))
    except Exception:  # a coverage is a bonus: the profile stands without it
        log.warning("No coverage for resource %s", resource.get("id"), exc_info=True)
    return found


TYING_FIELDS = ("format", "layer", "code_column", "code_slice", "geometry", "geometry_column",
                "lat_column", "lon_column", "point_column", "wkt_column", "crs", "delimiter",
                "encoding")


def keeps_coverage(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """A corrected profile keeps the coverage when the columns that tie rows to territory
    did not change."""
    return all(before.get(k) == after.get(k) for k in TYING_FIELDS)


def profile_view(resource_id: str, record: dict[str, Any] | None) -> dict[str, Any]:
    if record is None:
        return {"resource_id": resource_id, "status": "pending", "profile": None,
                "message": tk._("The profile of this resource has not been detected yet"),
                "modes": [], "formats": [], "formats_by_mode": {}, "geometric": False,
                "grid": False, "corrected": False}
    profile = record.get("profile")
    if profile and profile.get("coverage"):
        from ckanext.dataclic.extract.coverage import public_view

        profile = {**profile, "coverage": public_view(profile["coverage"])}
    message = record.get("message")
    if record["status"] == "pending":
        message = tk._("The profile of this resource is being detected")
    return {
        "resource_id": resource_id,
        "status": record["status"],
        "profile": profile,
        "message": stored_message(message, None if record["status"] == "pending" else
                                  record.get("message_detail")),
        "modes": allowed_modes(profile) if record["status"] == "detected" else [],
        "formats": allowed_formats(profile) if record["status"] == "detected" else [],
        "formats_by_mode": formats_by_mode(profile) if record["status"] == "detected" else {},
        "geometric": bool(profile and not grids.is_grid(profile)
                          and profile.get("geometry", "none") != "none"),
        "grid": grids.is_grid(profile),
        "corrected": bool(record.get("corrected")),
        "updated": iso(record.get("updated")),
    }





def usable_profile(resource: dict[str, Any]) -> dict[str, Any]:
    """The stored profile of a resource, detected now when the file is small and local."""
    record = store.get_profile(resource["id"])
    version = content_version(resource)
    if record is None or record["status"] == "pending" or record["content_version"] != version:
        size = known_input_size(resource)
        if upload_path(resource) is not None and size is not None \
                and size <= settings().sync_max_bytes:
            record = detect(resource, force=True)
        elif record is None or record["status"] == "pending":
            _retry_lost_detection(resource, record, version)
            raise _invalid("resource_id", "The profile of this resource is still being "
                           "detected; try again in a moment")
    if record["status"] != "detected" or not record.get("profile"):
        raise _invalid("resource_id", N_("This resource cannot be extracted: {reason}"),
                       reason=stored_message(record.get("message") or "no usable profile",
                                             record.get("message_detail")))
    return record


def _retry_lost_detection(resource: dict[str, Any], record: dict[str, Any] | None,
                          version: str) -> None:
    """A detection pending for longer than ``stale_after`` (its job was lost, Redis was
    down): enqueue it again."""
    cutoff = store.now() - datetime.timedelta(seconds=settings().stale_after)
    if record is not None and record["updated"] > cutoff:
        return
    from ckanext.dataclic import jobs

    store.save_profile(resource["id"], status="pending", profile=None, message=None,
                       content_version=version)
    tk.enqueue_job(jobs.detect_profile, [resource["id"]],
                   title=f"dataclic profile {resource['id'][:8]}")
