"""Opendatasoft portals (Explore API v2.1): datasets by ids or a catalogue ``where`` filter.

Each dataset gets one resource per useful export (CSV, GeoJSON when the dataset has geometry,
Parquet), and keeps the portal's field metadata.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

import ckan.plugins.toolkit as tk

from ckanext.dataclic.remote import RemoteClient, RemoteError

from .base import DataclicHarvester
from .config import (
    Check,
    SourceConfigError,
    _positive_int,
    _text,
    _text_list,
    api_root,
    list_of,
)
from .licences import licence_fields, licence_for
from .profiles import profile_from_fields
from .records import DatasetDraft, RemoteRecord, iso_timestamp
from .web import declare_harvest_options

EXPORTS = ("csv", "geojson", "parquet", "json", "xlsx", "shp", "fgb")
DEFAULT_EXPORTS = ["csv", "geojson", "parquet"]
GEO_TYPES = {"geo_point_2d", "geo_shape"}
# Explore v2.1 refuses offset + limit beyond 10,000 on catalogue listings.
MAX_OFFSET = 10_000


def api_base(source_url: str) -> str:
    return api_root(source_url, "api/explore/v2.1")


@tk.blanket.config_declarations(declare_harvest_options)
class OdsHarvester(DataclicHarvester):
    name = "dataclic_ods"
    title = "Opendatasoft (Explore API v2.1)"
    description = (
        "Datasets of an Opendatasoft portal, by ids or an ODSQL 'where' filter on the "
        "catalogue; one resource per export (CSV, GeoJSON, Parquet)."
    )
    config_keys: ClassVar[dict[str, Check]] = {
        "datasets": _text_list,
        "where": _text,
        "exports": list_of(*EXPORTS),
        "page_size": _positive_int,
    }

    def builds_offline(self, config: dict[str, Any]) -> bool:
        return True  # exports are links built from the record

    def check_config(self, config: dict[str, Any]) -> None:
        if "datasets" in config and "where" in config:
            raise SourceConfigError("give 'datasets' or 'where', not both")
        if config.get("page_size", 1) > 100:
            raise SourceConfigError("'page_size' must be at most 100 on Explore v2.1")

    def list_records(
        self, source_url: str, config: dict[str, Any], client: RemoteClient
    ) -> Iterator[RemoteRecord]:
        api = api_base(source_url)
        self.check_config(config)
        if "datasets" in config:
            for ident in config["datasets"]:
                yield RemoteRecord(ident, url=f"{api}/catalog/datasets/{quote(ident, safe='')}")
            return
        limit = config.get("page_size", 100)
        params: dict[str, Any] = {"limit": limit, "offset": 0}
        if "where" in config:
            params["where"] = config["where"]

        def next_params(payload: Any, url: str) -> dict[str, Any] | None:
            offset = int(parse_qs(urlsplit(url).query)["offset"][0]) + limit
            total = int(payload.get("total_count") or 0) if isinstance(payload, dict) else 0
            if offset >= total or offset + limit > MAX_OFFSET:
                return None
            return {**params, "offset": offset}

        for page in client.iter_pages(f"{api}/catalog/datasets", params, next_params):
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise RemoteError(f"{api}/catalog/datasets",
                                  "the answer is not an Explore v2.1 catalogue page", 200)
            for item in page["results"]:
                if isinstance(item, dict) and item.get("dataset_id"):
                    ident = str(item["dataset_id"])
                    yield RemoteRecord(
                        ident, content=item,
                        url=f"{api}/catalog/datasets/{quote(ident, safe='')}",
                    )

    def fetch_record(
        self, record: RemoteRecord, config: dict[str, Any], client: RemoteClient
    ) -> dict[str, Any]:
        payload = super().fetch_record(record, config, client)
        if "dataset_id" not in payload:
            raise RemoteError(record.url or record.guid,
                              "the answer is not an Explore v2.1 dataset", 200)
        return payload

    def build_dataset(
        self, content: dict[str, Any], config: dict[str, Any], source_url: str,
        client: RemoteClient,
    ) -> DatasetDraft:
        api = api_base(source_url)
        ident = str(content["dataset_id"])
        meta = (content.get("metas") or {}).get("default") or {}
        if not isinstance(meta, dict):
            raise TypeError("'metas.default' is not an object")
        fields = [f for f in content.get("fields") or [] if isinstance(f, dict) and f.get("name")]
        typed = [(str(f["name"]), str(f.get("type") or "")) for f in fields]
        has_geo = any(t in GEO_TYPES for _n, t in typed) or "geo" in (content.get("features") or [])
        kept_fields = json.dumps(
            [{k: f.get(k) for k in ("name", "label", "type", "description") if f.get(k)}
             for f in fields], ensure_ascii=False,
        )
        modified = iso_timestamp(meta.get("modified") or meta.get("data_processed"))
        resources = []
        for fmt in config.get("exports", DEFAULT_EXPORTS):
            if fmt in ("geojson", "shp", "fgb") and not has_geo:
                continue
            params = "?delimiter=%3B" if fmt == "csv" else ""
            resources.append({
                "key": fmt,
                "name": f"{meta.get('title') or ident} ({fmt.upper()})",
                "url": f"{api}/catalog/datasets/{quote(ident, safe='')}/exports/{fmt}{params}",
                "format": fmt.upper(),
                "last_modified": modified,
                "dataclic_fields": kept_fields,
                "dataclic_profile": profile_from_fields(
                    fmt, typed, delimiter=";" if fmt == "csv" else None
                ),
            })
        extras = {
            "dataclic_remote_id": ident,
            "dataclic_fields": kept_fields,
            "remote_modified": str(meta.get("modified") or ""),
            "producer": str(meta.get("publisher") or ""),
            "theme": ", ".join(str(t) for t in meta.get("theme") or []),
            "records_count": str(meta.get("records_count") or ""),
            "spatial_zones": ", ".join(str(t) for t in meta.get("territory") or []),
        }
        portal = api[: api.index("/api/")]
        return DatasetDraft(
            name_hint=ident,
            title=str(meta.get("title") or ident),
            notes=str(meta.get("description") or ""),
            remote_url=f"{portal}/explore/dataset/{ident}/",
            **licence_fields(licence_for(meta.get("license"), url=meta.get("license_url"))),
            tags=[str(t) for t in meta.get("keyword") or []],
            extras=extras,
            resources=resources,
            identity=str(content.get("dataset_uid") or ident),
        )
