"""Files the harvesters store: the staging folder beside CKAN's storage, downloads into it,
and the move of a finished file to where CKAN's uploader serves it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import ckan.plugins.toolkit as tk
from ckan.lib.munge import munge_filename

from ckanext.dataclic.remote import RemoteClient

DEFAULT_LOCAL_COPY_MAX_BYTES = 200 * 1024 * 1024


def staging_dir() -> Path:
    """Beside CKAN's storage, so that a finished copy is moved in place, never copied."""
    folder = Path(tk.config["ckan.storage_path"]) / "dataclic-harvest"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stage_download(
    client: RemoteClient, url: str, params: dict[str, Any] | None, filename: str, cap: int
) -> dict[str, Any]:
    """Download into the staging folder; resource fields for an uploaded file."""
    handle, name = tempfile.mkstemp(dir=staging_dir(), suffix=".part")
    os.close(handle)
    path = Path(name)
    try:
        size, digest = client.download(url, path, params, max_bytes=cap)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return {"url": munge_filename(filename), "url_type": "upload", "size": size,
            "hash": f"sha256:{digest}", "_local_file": str(path)}


def store_resource_file(resource_id: str, staged: Path) -> None:
    """Move a staged file where CKAN's resource uploader serves it from."""
    from ckan.lib import uploader

    upload = uploader.get_resource_uploader({"id": resource_id})
    target = Path(upload.get_path(resource_id))
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)

