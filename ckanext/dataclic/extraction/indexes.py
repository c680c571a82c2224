"""Engine indexes of large CSV resources, built once per file version in a job."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ckanext.dataclic.extraction.profiles import engine_profile, referential
from ckanext.dataclic.extraction.settings import settings
from ckanext.dataclic.extraction.sources import local_source, source_file
from ckanext.dataclic.model import extraction as store


def index_dir(resource_id: str) -> Path:
    """Where the engine keeps the index of a resource's file (see ``build_index``)."""
    return settings().storage / "indexes" / resource_id


def wants_index(resource: dict[str, Any], record: dict[str, Any]) -> bool:
    """A detected CSV profile, on a file large enough to be worth an index."""
    limit = settings().index_min_bytes
    profile = record.get("profile") or {}
    if limit <= 0 or record.get("status") != "detected" or profile.get("format") != "csv":
        return False
    if profile.get("archive_member"):
        return False  # the engine indexes plain files only
    if not (profile.get("code_column") or profile.get("geometry") in ("latlon", "point_text")):
        return False
    path = local_source(resource)
    return path is not None and path.stat().st_size >= limit


def build_index(resource: dict[str, Any]) -> dict[str, Any] | None:
    """Build the engine's index of the resource's file for its current version; None when
    there is nothing to do (no profile, not worth it, or already built)."""
    from ckanext.dataclic.extract.engine import build_index as engine_build_index
    from ckanext.dataclic.extract.index import fresh_index_meta

    record = store.get_profile(resource["id"])
    if record is None or not wants_index(resource, record):
        return None
    path = source_file(resource)
    folder = index_dir(resource["id"])
    profile = engine_profile(record["profile"])
    built = fresh_index_meta(path, folder)
    if built is not None and built.get("profile") == profile.to_dict():
        return None  # this file version, read with this profile (a corrected one rebuilds)
    folder.mkdir(parents=True, exist_ok=True)
    _, meta = engine_build_index(path, referential=referential(), profile=profile,
                                 index_dir=folder)
    return meta

