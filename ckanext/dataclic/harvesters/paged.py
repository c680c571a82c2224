"""Paged JSON APIs (Hub'Eau, Géorisques, data-fair lines) gathered into one CSV file.

One dataset per configured endpoint. The import reads every page (following the API's own
``next`` link, with the page cap and loop detection of the HTTP client), writes the records
to a CSV in the portal's storage with a size cap, and reports the file's SHA-256 so that an
unchanged referential is "not modified".
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin

from ckanext.dataclic.remote import RemoteClient, RemoteError, full_url

from .base import (
    Check,
    DataclicHarvester,
    DatasetDraft,
    RemoteRecord,
    _mapping,
    _positive_int,
    _text_list,
    staging_dir,
)
from .profiles import profile_from_fields, profile_from_file

PagePicker = Callable[[Any, str], "str | dict[str, Any] | None"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return "|".join("" if v is None else str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def records_to_csv(
    pages: Iterator[list[dict[str, Any]]], dest: Path, max_bytes: int, source: str
) -> tuple[int, list[str]]:
    """Write records to ``dest`` as UTF-8 CSV; the columns are the union of the records' keys.

    Two passes over a JSON-lines spool keep memory flat whatever the number of records.
    """
    columns: dict[str, None] = {}
    count = 0
    spooled = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8", dir=dest.parent) as spool:
        for records in pages:
            for record in records:
                if not isinstance(record, dict):
                    raise RemoteError(source, "a record is not a JSON object", 200)
                for key in record:
                    columns.setdefault(str(key), None)
                line = json.dumps(record, ensure_ascii=False)
                spooled += len(line) + 1
                if spooled > max_bytes:
                    raise RemoteError(source, f"the records are over the {max_bytes} byte cap")
                spool.write(line + "\n")
                count += 1
        spool.seek(0)
        header = list(columns)
        with open(dest, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            for line in spool:
                record = json.loads(line)
                writer.writerow([_cell(record.get(col)) for col in header])
    return count, header


class PagedApiHarvester(DataclicHarvester):
    """Base of harvesters that turn a paged JSON endpoint into one CSV resource."""

    producer: ClassVar[str] = ""
    data_key: ClassVar[str] = "data"
    size_param: ClassVar[str] = "size"
    default_page_size: ClassVar[int] = 1000
    default_tags: ClassVar[list[str]] = []
    config_keys: ClassVar[dict[str, Check]] = {
        "endpoints": _text_list,
        "params": _mapping,
        "page_size": _positive_int,
    }

    def endpoint_url(self, source_url: str, endpoint: str) -> str:
        return urljoin(source_url.rstrip("/") + "/", endpoint.lstrip("/"))

    def endpoint_title(self, endpoint: str) -> str:
        parts = [p for p in endpoint.strip("/").split("/") if p and not p.startswith("v")]
        return f"{self.producer} — " + " / ".join(p.replace("_", " ") for p in parts)

    def next_page(self, payload: Any, url: str) -> str | dict[str, Any] | None:
        if isinstance(payload, dict) and isinstance(payload.get("next"), str):
            return payload["next"]
        return None

    def page_records(self, payload: Any, url: str) -> list[dict[str, Any]]:
        data = payload.get(self.data_key) if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise RemoteError(url, f"the answer has no '{self.data_key}' list", 200)
        return data

    def list_records(
        self, source_url: str, config: dict[str, Any], client: RemoteClient
    ) -> Iterator[RemoteRecord]:
        if "endpoints" not in config:
            raise RemoteError(source_url, "the source config gives no 'endpoints'")
        for endpoint in config["endpoints"]:
            url = self.endpoint_url(source_url, endpoint)
            yield RemoteRecord(endpoint, content={"endpoint": endpoint, "url": url}, url=url)

    def build_dataset(
        self, content: dict[str, Any], config: dict[str, Any], source_url: str,
        client: RemoteClient,
    ) -> DatasetDraft:
        endpoint, url = str(content["endpoint"]), str(content["url"])
        params = {**config.get("params", {}),
                  self.size_param: config.get("page_size", self.default_page_size)}
        cap = config.get("max_bytes", client.limits.max_bytes)
        path, count, columns, size, digest = gather_to_csv(
            client, url, params, self.next_page,
            lambda payload, page_url: self.page_records(payload, page_url), cap,
        )
        profile = profile_from_file(path, "csv") or profile_from_fields(
            "csv", [(c, "") for c in columns], delimiter=","
        )
        slug = endpoint.strip("/").replace("/", "-")
        title = self.endpoint_title(endpoint)
        return DatasetDraft(
            name_hint=f"{self.name.removeprefix('dataclic_')}-{slug}",
            title=title,
            notes=f"{title}: {count} records gathered from {url}.",
            remote_url=url,
            license_id="etalab-2.0",
            tags=list(self.default_tags),
            extras={"producer": self.producer, "records_count": str(count),
                    "dataclic_remote_id": endpoint},
            resources=[
                {"key": "file", "name": f"{slug}.csv", "format": "CSV",
                 "url": f"{slug}.csv", "url_type": "upload", "size": size,
                 "hash": f"sha256:{digest}", "_local_file": str(path),
                 "dataclic_profile": profile, "description": f"{count} records"},
                {"key": "api", "name": f"{title} (API)", "format": "JSON",
                 "url": full_url(url, config.get("params") or None),
                 "description": "The live API endpoint this file was gathered from."},
            ],
            identity=url,
        )


def gather_to_csv(
    client: RemoteClient,
    url: str,
    params: dict[str, Any],
    next_page: PagePicker,
    page_records: Callable[[Any, str], list[dict[str, Any]]],
    cap: int,
) -> tuple[Path, int, list[str], int, str]:
    """Every page into a staged CSV: (path, records, columns, bytes, sha256)."""
    handle, name = tempfile.mkstemp(dir=staging_dir(), suffix=".csv")
    os.close(handle)
    path = Path(name)
    try:
        payloads = client.iter_pages(url, params, next_page)
        pages = (page_records(payload, url) for payload in payloads)
        count, columns = records_to_csv(pages, path, cap, full_url(url, params))
        return path, count, columns, path.stat().st_size, _sha256(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
