"""data.gouv.fr (udata API v1): datasets by ids/slugs, or by organisation, tag or query."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote

import ckan.plugins.toolkit as tk

from ckanext.dataclic.remote import RemoteClient, RemoteError

from .base import DataclicHarvester
from .config import Check, SourceConfigError, _positive_int, _text, _text_list, api_root
from .licences import licence_fields, licence_for
from .profiles import profile_from_fields
from .records import DatasetDraft, RemoteRecord, iso_timestamp
from .web import declare_harvest_options


def api_base(source_url: str) -> str:
    """``https://www.data.gouv.fr`` or any URL under ``…/api/1`` → the API v1 root."""
    return api_root(source_url, "api/1")


def check_grid_crs(key: str, value: Any) -> str:
    """The CRS given to grids (territorial harvest) whose file has none usable."""
    from ckanext.dataclic.extract.errors import ExtractionError
    from ckanext.dataclic.extract.profile import normalise_crs

    try:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ExtractionError("not a CRS")
        return normalise_crs(value)
    except ExtractionError as exc:
        raise SourceConfigError(tk._(
            "'{key}' must be a coordinate reference system such as EPSG:27572, not {value}"
        ).format(key=key, value=repr(value))) from exc


@tk.blanket.config_declarations(declare_harvest_options)
class UdataHarvester(DataclicHarvester):
    name = "dataclic_udata"
    title = "data.gouv.fr (udata)"
    description = (
        "Datasets of a udata portal such as data.gouv.fr, by ids or slugs, organisation, "
        "tag or search query."
    )
    config_keys: ClassVar[dict[str, Check]] = {
        "datasets": _text_list,
        "organization": _text,
        "tag": _text,
        "q": _text,
        "page_size": _positive_int,
        "grid_crs": check_grid_crs,
    }

    def builds_offline(self, config: dict[str, Any]) -> bool:
        return True  # the dataset is made from the record alone

    def check_config(self, config: dict[str, Any]) -> None:
        if "datasets" in config and {"organization", "tag", "q"} & set(config):
            raise SourceConfigError(
                "'datasets' cannot be combined with 'organization', 'tag' or 'q'"
            )
        if not {"datasets", "organization", "tag", "q"} & set(config):
            raise SourceConfigError(
                "give 'datasets', or at least one of 'organization', 'tag' or 'q'"
            )

    def list_records(
        self, source_url: str, config: dict[str, Any], client: RemoteClient
    ) -> Iterator[RemoteRecord]:
        api = api_base(source_url)
        self.check_config(config)
        if "datasets" in config:
            for ident in config["datasets"]:
                yield RemoteRecord(ident, url=f"{api}/datasets/{quote(ident, safe='')}/")
            return
        params: dict[str, Any] = {"page_size": config.get("page_size", 100), "page": 1}
        for key in ("organization", "tag", "q"):
            if key in config:
                params[key] = config[key]
        pages = client.iter_pages(
            f"{api}/datasets/", params, lambda payload, _url: payload.get("next_page")
        )
        for page in pages:
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise RemoteError(f"{api}/datasets/", "the answer is not a udata dataset page")
            for item in page["data"]:
                if isinstance(item, dict) and item.get("id"):
                    yield RemoteRecord(str(item["id"]), content=item, url=item.get("uri"))

    def fetch_record(
        self, record: RemoteRecord, config: dict[str, Any], client: RemoteClient
    ) -> dict[str, Any]:
        payload = super().fetch_record(record, config, client)
        if "id" not in payload or "title" not in payload:
            raise RemoteError(record.url or record.guid, "the answer is not a udata dataset", 200)
        return payload

    def build_dataset(
        self, content: dict[str, Any], config: dict[str, Any], source_url: str,
        client: RemoteClient,
    ) -> DatasetDraft:
        remote_id = str(content["id"])
        extras: dict[str, str] = {"dataclic_remote_id": remote_id}
        if content.get("frequency"):
            extras["frequency"] = str(content["frequency"])
        temporal = content.get("temporal_coverage") or {}
        if isinstance(temporal, dict):
            if temporal.get("start"):
                extras["temporal_start"] = str(temporal["start"])
            if temporal.get("end"):
                extras["temporal_end"] = str(temporal["end"])
        spatial = content.get("spatial") or {}
        if isinstance(spatial, dict):
            if spatial.get("zones"):
                extras["spatial_zones"] = ", ".join(str(z) for z in spatial["zones"])
            if spatial.get("granularity"):
                extras["spatial_granularity"] = str(spatial["granularity"])
        organization = content.get("organization") or {}
        if isinstance(organization, dict) and organization.get("name"):
            extras["producer"] = str(organization["name"])
        if content.get("last_modified"):
            extras["remote_modified"] = str(content["last_modified"])
        resources = []
        for res in content.get("resources") or []:
            if not isinstance(res, dict) or not res.get("url"):
                continue
            fmt = str(res.get("format") or "").lower()
            checksum = res.get("checksum") or {}
            resources.append({
                "key": res.get("id") or res["url"],
                "name": res.get("title") or res["url"].rsplit("/", 1)[-1],
                "description": res.get("description") or "",
                "url": res["url"],
                "format": fmt.upper() if fmt else None,
                "mimetype": res.get("mime"),
                "size": res.get("filesize") if isinstance(res.get("filesize"), int) else None,
                "hash": f"{checksum['type']}:{checksum['value']}"
                if isinstance(checksum, dict) and checksum.get("value") else None,
                "last_modified": iso_timestamp(res.get("last_modified")),
                "dataclic_profile": profile_from_fields(fmt, []) if fmt else None,
            })
        return DatasetDraft(
            name_hint=str(content.get("slug") or remote_id),
            title=str(content["title"]),
            notes=str(content.get("description") or ""),
            remote_url=str(content.get("page") or content.get("uri") or ""),
            **licence_fields(licence_for(content.get("license"))),
            tags=[str(t) for t in content.get("tags") or []],
            extras=extras,
            resources=resources,
            identity=remote_id,
        )
