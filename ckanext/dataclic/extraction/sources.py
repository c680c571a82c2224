"""Where an extraction reads its data: CKAN's uploads, or remote URLs fetched once per
content version into the extraction storage."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.extraction.settings import N_, SourceError, settings


def site_context() -> dict[str, Any]:
    user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    return {"ignore_auth": True, "user": user["name"]}


def show_resource(resource_id: str) -> dict[str, Any]:
    return tk.get_action("resource_show")({"ignore_auth": True}, {"id": resource_id})


def upload_path(resource: dict[str, Any]) -> Path | None:
    """Where CKAN keeps an uploaded resource's file, or None for a remote URL."""
    if resource.get("url_type") != "upload":
        return None
    from ckan.lib import uploader

    upload = uploader.get_resource_uploader(dict(resource))
    if isinstance(upload, uploader.ResourceUpload):
        return Path(upload.get_path(resource["id"]))
    storage = getattr(upload, "storage", None)
    base = getattr(getattr(storage, "settings", None), "path", None)
    if base is None:
        raise SourceError(N_("This storage of uploads cannot be read by the extraction"))
    return Path(base) / str(upload.get_path(resource["id"]))


def content_version(resource: dict[str, Any]) -> str:
    """A fingerprint of the resource's content: it changes when the data may have changed."""
    parts: dict[str, Any] = {k: resource.get(k) for k in
                             ("url", "url_type", "hash", "size", "last_modified")}
    try:
        path = upload_path(resource)
    except SourceError:
        path = None
    if path is not None and path.is_file():
        stat = path.stat()
        parts["file"] = [stat.st_size, stat.st_mtime_ns]
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def known_input_size(resource: dict[str, Any]) -> int | None:
    path = upload_path(resource)
    if path is not None:
        return path.stat().st_size if path.is_file() else None
    size = resource.get("size")
    try:
        return int(size) if size not in (None, "") else None
    except (TypeError, ValueError):
        return None


def source_file(resource: dict[str, Any], *, max_bytes: int | None = None,
                owner: str | None = None) -> Path:
    """A local file holding the resource's data: the upload, or the fetched remote URL.

    Remote files are fetched once per content version into the storage, with timeouts, a
    size cap and the host policy, and written atomically. ``owner`` (an extraction id) is
    part of the partial file's name, so that the retry of a dead job can remove it.
    """
    conf = settings()
    cap = max_bytes or conf.max_input_bytes
    path = upload_path(resource)
    if path is not None:
        if not path.is_file():
            raise SourceError(N_("The uploaded file of this resource is missing from the "
                                 "storage"))
        if path.stat().st_size > cap:
            raise SourceError(N_("The file is over the {cap} byte limit of extractions"), cap=cap)
        return _with_extension(path, conf.storage / "sources" / resource["id"])
    url = (resource.get("url") or "").strip()
    if not url:
        raise SourceError(N_("This resource has neither an uploaded file nor a URL"))
    from ckanext.dataclic.remote import (
        HostPolicy,
        RemoteClient,
        RemoteError,
        RemoteLimits,
    )

    folder = conf.storage / "sources" / resource["id"]
    target = folder / f"{content_version(resource)}.data"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    limits = RemoteLimits(connect_timeout=conf.connect_timeout, read_timeout=conf.read_timeout,
                          deadline=max(conf.job_timeout, 60), max_retries=1, backoff=0.5,
                          max_bytes=cap)
    policy = HostPolicy(conf.allowed_hosts, option="ckanext.dataclic.extract.allowed_hosts")
    client = RemoteClient(limits, policy,
                          user_agent="ckanext-dataclic extraction")
    # A unique name per fetch: workers on other machines may fetch the same version at
    # the same time; each renames its complete file into place.
    tag = f"{owner}." if owner else ""
    partial = folder / f"{target.stem}.{tag}{secrets.token_hex(6)}.tmp"
    try:
        client.download(url, partial)
        os.replace(partial, target)
    except RemoteError as error:
        from ckanext.dataclic.shown import shorten

        raise SourceError(N_("Cannot fetch {url}: {reason}"), url=shorten(url),
                          reason=_redacted(error.detail())) from error
    finally:
        client.close()
        partial.unlink(missing_ok=True)
    for old in folder.glob("*.data"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def _redacted(detail: dict[str, Any]) -> dict[str, Any]:
    """A message's detail without the credentials of the URLs its values hold."""
    from ckanext.dataclic.shown import redact

    values = {k: _redacted(v) if isinstance(v, dict) else redact(str(v))
              for k, v in (detail.get("values") or {}).items()}
    return {**detail, "values": values}


MAGIC_EXTENSIONS = ((b"SQLite format 3\x00", ".gpkg"), (b"PK\x03\x04", ".zip"),
                    (b"fgb\x03", ".fgb"), (b"PAR1", ".parquet"))


def _with_extension(path: Path, folder: Path) -> Path:
    """CKAN stores uploads without an extension; GDAL wants one for some formats. Give it a
    symbolic link named after the content."""
    with path.open("rb") as handle:
        head = handle.read(16)
    suffix = next((ext for magic, ext in MAGIC_EXTENSIONS if head.startswith(magic)), None)
    if suffix is None:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / f"upload{suffix}"
    if link.is_symlink() and os.readlink(link) == str(path):
        return link
    temporary = folder / f".{secrets.token_hex(6)}{suffix}"
    os.symlink(path, temporary)
    os.replace(temporary, link)
    return link



def small_local_file(resource: dict[str, Any]) -> bool:
    """The resource's file is on this machine and small enough to read within a request."""
    path = local_source(resource)
    return path is not None and path.stat().st_size <= settings().sync_max_bytes


def local_source(resource: dict[str, Any]) -> Path | None:
    """The resource's file when it is already on this machine (never fetched here)."""
    try:
        path = upload_path(resource)
    except SourceError:
        return None
    if path is None:
        folder = settings().storage / "sources" / resource["id"]
        path = folder / f"{content_version(resource)}.data"
    return path if path.is_file() else None

