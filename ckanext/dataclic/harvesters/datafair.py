"""ADEME data-fair portals (DPE and others): dataset metadata, and either the full file
(a link to the original file, or a local copy) or every page of ``lines`` gathered into a CSV.

The extraction profile comes from the dataset schema's semantic concepts (``x-refersTo``):
commune code, latitude/longitude, geometry.
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
    one_of,
)
from .licences import licence_fields, licence_for
from .paged import gather_to_csv
from .profiles import profile_from_fields
from .records import DatasetDraft, RemoteRecord, iso_timestamp
from .web import declare_harvest_options

CONCEPT_CODE = ("codeCommune", "codecommuneinsee", "insee")
CONCEPT_LAT = "wgs84_pos#lat"
CONCEPT_LON = "wgs84_pos#long"
CONCEPT_GEOMETRY = "geometrie#Geometry"
CONCEPT_LATLON = "wgs84_pos#lat_long"


def api_base(source_url: str) -> str:
    return api_root(source_url, "api/v1", marker="/api/v1")


def schema_profile(schema: list[dict[str, Any]], fmt: str) -> str | None:
    """A profile from data-fair's schema concepts; None when nothing ties it to territory."""
    from ckanext.dataclic.extract.profile import ExtractionProfile

    columns = [str(f["key"]) for f in schema if not str(f.get("key", "_")).startswith("_")]
    profile = ExtractionProfile(format=fmt, columns=columns,
                                delimiter="," if fmt == "csv" else None)
    for field in schema:
        key, concept = str(field.get("key") or ""), str(field.get("x-refersTo") or "")
        if not key or key.startswith("_") or not concept:
            continue
        if any(c.lower() in concept.lower() for c in CONCEPT_CODE) and not profile.code_column:
            profile.code_column = key
        elif concept.endswith(CONCEPT_LATLON):
            profile.geometry, profile.point_column, profile.crs = "point_text", key, "EPSG:4326"
        elif concept.endswith(CONCEPT_LAT):
            profile.lat_column = key
        elif concept.endswith(CONCEPT_LON):
            profile.lon_column = key
        elif concept.endswith(CONCEPT_GEOMETRY):
            profile.geometry, profile.wkt_column, profile.crs = "wkt", key, "EPSG:4326"
    if profile.lat_column and profile.lon_column and profile.geometry == "none":
        profile.geometry, profile.crs = "latlon", "EPSG:4326"
    if not profile.has_code and not profile.has_geometry:
        return None
    return profile.to_json(sort_keys=True)


def _lines_records(payload: Any, url: str) -> list[dict[str, Any]]:
    data = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise RemoteError(url, "the answer has no 'results' list", 200)
    return data


def _next_link(payload: Any, _url: str) -> str | None:
    link = payload.get("next") if isinstance(payload, dict) else None
    return link if isinstance(link, str) and link else None


@tk.blanket.config_declarations(declare_harvest_options)
class DatafairHarvester(DataclicHarvester):
    name = "dataclic_datafair"
    title = "data-fair (ADEME…)"
    description = (
        "Datasets of a data-fair portal such as data.ademe.fr, by ids or a search; the full "
        "file, or every page of the lines API gathered into a CSV."
    )
    config_keys: ClassVar[dict[str, Check]] = {
        "datasets": _text_list,
        "q": _text,
        "owner": _text,
        "download": one_of("file", "lines"),
        "page_size": _positive_int,
    }

    def builds_offline(self, config: dict[str, Any]) -> bool:
        return config.get("download", "file") == "file"  # "lines" gathers a CSV

    def check_config(self, config: dict[str, Any]) -> None:
        if "datasets" in config and {"q", "owner"} & set(config):
            raise SourceConfigError("'datasets' cannot be combined with 'q' or 'owner'")

    def list_records(
        self, source_url: str, config: dict[str, Any], client: RemoteClient
    ) -> Iterator[RemoteRecord]:
        api = api_base(source_url)
        if "datasets" in config:
            for ident in config["datasets"]:
                yield RemoteRecord(ident, url=f"{api}/datasets/{quote(ident, safe='')}")
            return
        size = config.get("page_size", 100)
        params: dict[str, Any] = {"size": size, "page": 1}
        for key in ("q", "owner"):
            if key in config:
                params[key] = config[key]

        def next_page(payload: Any, url: str) -> str | dict[str, Any] | None:
            link = _next_link(payload, url)
            if link:
                return link
            page = int(parse_qs(urlsplit(url).query).get("page", ["1"])[0])
            total = int(payload.get("count") or 0) if isinstance(payload, dict) else 0
            return {**params, "page": page + 1} if page * size < total else None

        for page in client.iter_pages(f"{api}/datasets", params, next_page):
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise RemoteError(f"{api}/datasets", "the answer is not a data-fair page", 200)
            for item in page["results"]:
                if isinstance(item, dict) and item.get("id"):
                    ident = str(item["id"])
                    yield RemoteRecord(ident, content=item,
                                       url=f"{api}/datasets/{quote(ident, safe='')}")

    def fetch_record(
        self, record: RemoteRecord, config: dict[str, Any], client: RemoteClient
    ) -> dict[str, Any]:
        payload = super().fetch_record(record, config, client)
        if "id" not in payload or "title" not in payload:
            raise RemoteError(record.url or record.guid, "the answer is not a data-fair dataset",
                              200)
        return payload

    def build_dataset(
        self, content: dict[str, Any], config: dict[str, Any], source_url: str,
        client: RemoteClient,
    ) -> DatasetDraft:
        api = api_base(source_url)
        ident = str(content["id"])
        dataset_api = f"{api}/datasets/{quote(ident, safe='')}"
        schema = [f for f in content.get("schema") or [] if isinstance(f, dict) and f.get("key")]
        fields = json.dumps(
            [{k: f.get(k) for k in ("key", "type", "title", "description", "x-refersTo")
              if f.get(k)} for f in schema if not str(f["key"]).startswith("_")],
            ensure_ascii=False,
        )
        licence = content.get("license") or {}
        updated = content.get("dataUpdatedAt") or content.get("updatedAt")
        extras = {
            "dataclic_remote_id": ident,
            "dataclic_fields": fields,
            "remote_modified": str(updated or ""),
            "records_count": str(content.get("count") or ""),
            "theme": ", ".join(str(t.get("title")) for t in content.get("topics") or []
                               if isinstance(t, dict) and t.get("title")),
        }
        if isinstance(content.get("bbox"), list) and len(content["bbox"]) == 4:
            extras["spatial_bbox"] = ",".join(str(v) for v in content["bbox"])
        count = None
        if config.get("download", "file") == "lines":
            slug = str(content.get("slug") or ident)
            path, count, columns, size, digest = gather_to_csv(
                client, f"{dataset_api}/lines", {"size": config.get("page_size", 10000)},
                _next_link, _lines_records, config.get("max_bytes", client.limits.max_bytes),
                [str(f["key"]) for f in schema if not str(f["key"]).startswith("_")],
            )
            profile = schema_profile(schema, "csv") or profile_from_fields(
                "csv", [(c, "") for c in columns], delimiter=","
            )
            resources = [{
                "key": "file", "name": f"{slug}.csv", "format": "CSV", "url": f"{slug}.csv",
                "url_type": "upload", "size": size, "hash": f"sha256:{digest}",
                "_local_file": str(path), "dataclic_profile": profile,
                "description": f"{count} lines", "last_modified": iso_timestamp(updated),
            }]
        else:
            original = content.get("originalFile") or content.get("file") or {}
            name = str(original.get("name") or f"{ident}.csv")
            fmt = name.rsplit(".", 1)[-1].lower() if "." in name else "csv"
            resources = [{
                "key": "file", "name": name, "url": f"{dataset_api}/raw",
                "format": fmt.upper(), "mimetype": original.get("mimetype"),
                "size": original.get("size") if isinstance(original.get("size"), int) else None,
                "last_modified": iso_timestamp(updated),
                "dataclic_profile": schema_profile(schema, fmt),
            }]
        resources.append({"key": "lines-api", "name": "API (lines)", "format": "JSON",
                          "url": f"{dataset_api}/lines",
                          "description": "The live paged API of this dataset."})
        return DatasetDraft(
            name_hint=str(content.get("slug") or ident),
            title=str(content["title"]),
            notes=str(content.get("description") or ""),
            remote_url=str(content.get("page") or dataset_api),
            **licence_fields(licence_for(
                None, title=licence.get("title"), url=licence.get("href"))
                if isinstance(licence, dict) else licence_for(None)),
            tags=[str(k) for k in content.get("keywords") or []],
            extras=extras,
            resources=resources,
            identity=ident,
            records_count=count,
        )
