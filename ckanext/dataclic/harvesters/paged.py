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
from urllib.parse import urljoin, urlsplit

import ckan.plugins.toolkit as tk

from ckanext.dataclic.remote import RemoteClient, RemoteError, full_url

from .base import DataclicHarvester
from .config import Check, SourceConfigError, _mapping, _positive_int, _text_list
from .identity import selecting_params
from .profiles import profile_from_fields, profile_from_file
from .records import DatasetDraft, RemoteRecord
from .storage import staging_dir

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
    pages: Iterator[list[dict[str, Any]]], dest: Path, max_bytes: int, source: str,
    columns_hint: list[str] | None = None,
) -> tuple[int, list[str]]:
    """Write records to ``dest`` as UTF-8 CSV; the columns are the union of the records' keys
    (after ``columns_hint``, the columns known beforehand, so that a file of 0 records still
    has its header row).

    Two passes over a JSON-lines spool keep memory flat whatever the number of records.
    """
    columns: dict[str, None] = dict.fromkeys(columns_hint or [])
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

    def check_config(self, config: dict[str, Any]) -> None:
        if "endpoints" not in config:
            raise SourceConfigError(tk._("'endpoints' is required"))

    def selecting_params(self, config: dict[str, Any]) -> dict[str, Any]:
        return dict(config.get("params") or {})

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

    def record_pages(
        self, client: RemoteClient, url: str, params: dict[str, Any],
        notes: list[str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """The records of every page of one query, page by page. ``notes`` collects what
        the dataset's notes should say about how the answer was read."""
        for payload in client.iter_pages(url, params, self.next_page):
            yield self.page_records(payload, url)

    def list_records(
        self, source_url: str, config: dict[str, Any], client: RemoteClient
    ) -> Iterator[RemoteRecord]:
        self.check_config(config)
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
        read_notes: list[str] = []
        path, count, columns, size, digest = pages_to_csv(
            self.record_pages(client, url, params, read_notes), full_url(url, params), cap,
            previous_columns(content) or asked_columns(params),
        )
        profile = profile_from_file(path, "csv") or profile_from_fields(
            "csv", [(c, "") for c in columns], delimiter=","
        )
        slug = endpoint.strip("/").replace("/", "-")
        selected = selecting_params(config.get("params"))
        selection = describe_selection(selected)
        title = self.endpoint_title(endpoint) + (f" — {selection}" if selection else "")
        suffix = "".join(f"-{value}" for value in selected.values())
        return DatasetDraft(
            name_hint=f"{self.name.removeprefix('dataclic_')}-{slug}{suffix}",
            title=title,
            notes=f"{title}: {count} records gathered from {full_url(url, selected or None)}."
            + (f"\n\nSelection: {selection}." if selection else "")
            + "".join(f"\n\n{note}" for note in read_notes),
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
            identity=urlsplit(url).path,
            records_count=count,
        )


def gather_to_csv(
    client: RemoteClient,
    url: str,
    params: dict[str, Any],
    next_page: PagePicker,
    page_records: Callable[[Any, str], list[dict[str, Any]]],
    cap: int,
    columns_hint: list[str] | None = None,
) -> tuple[Path, int, list[str], int, str]:
    """Every page into a staged CSV: (path, records, columns, bytes, sha256)."""
    payloads = client.iter_pages(url, params, next_page)
    pages = (page_records(payload, url) for payload in payloads)
    return pages_to_csv(pages, full_url(url, params), cap, columns_hint)


def pages_to_csv(
    pages: Iterator[list[dict[str, Any]]], source: str, cap: int,
    columns_hint: list[str] | None = None,
) -> tuple[Path, int, list[str], int, str]:
    """Pages of records into a staged CSV: (path, records, columns, bytes, sha256); no file
    is left behind when reading fails."""
    handle, name = tempfile.mkstemp(dir=staging_dir(), suffix=".csv")
    os.close(handle)
    path = Path(name)
    try:
        count, columns = records_to_csv(pages, path, cap, source, columns_hint)
        return path, count, columns, path.stat().st_size, _sha256(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def previous_columns(content: dict[str, Any]) -> list[str]:
    """The columns of the file this dataset had (the base passes them in
    ``_previous_columns``), for the header row of an answer of 0 records."""
    columns = content.get("_previous_columns")
    return [str(c) for c in columns] if isinstance(columns, list) else []


def asked_columns(params: dict[str, Any]) -> list[str]:
    """The columns a ``fields`` parameter asks for (Hub'Eau), in its order."""
    fields = params.get("fields")
    return [f.strip() for f in str(fields).split(",") if f.strip()] if fields else []


# Labels of the query parameters that usually select a territory or a station.
PARAM_LABELS = {
    "code_departement": "département", "departement": "département",
    "code_commune": "commune", "code_insee": "commune", "code_commune_insee": "commune",
    "code_region": "région", "region": "région", "code_epci": "EPCI",
    "code_station": "station", "code_bss": "station", "bss_id": "station",
    "code_entite": "station", "code_site": "site",
}


def describe_selection(params: dict[str, str]) -> str:
    """``{"code_departement": "33"}`` → ``département 33``; other keys as ``key = value``."""
    return ", ".join(
        f"{PARAM_LABELS[key.lower()]} {value}" if key.lower() in PARAM_LABELS
        else f"{key} = {value}"
        for key, value in params.items()
    )


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
