"""What every dataclic harvester shares: source config checking, gather with incremental
status and deletions, per-object errors, stable identity and name collisions.

A harvester module only says how to list a source (:meth:`DataclicHarvester.list_records`),
how to fetch one record when the listing does not carry it, and how to turn a record into a
:class:`DatasetDraft`. The shared stages live in :mod:`.gathering` (gather, fetch) and
:mod:`.importing` (import, withdraw); config checks in :mod:`.config`; identity in
:mod:`.identity`; stored files in :mod:`.storage`. Harvester modules import those names
from where they live.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import ckan.plugins as p
import ckan.plugins.toolkit as tk
from ckan import model
from ckanext.harvest.harvesters.base import HarvesterBase
from ckanext.harvest.interfaces import IHarvester
from ckanext.harvest.model import HarvestObject

from ckanext.dataclic.remote import RemoteClient, RemoteError

from .config import Check, parse_source_config
from .gathering import GatherStage
from .identity import identity_key, owned_package, package_id_for
from .importing import ImportStage
from .licences import register_french_licences
from .records import DatasetDraft, RemoteRecord
from .web import (
    _source_url_checked_create,
    _source_url_checked_update,
    green_sources_for_form,
)


def previous_file_columns(package_id: str) -> list[str]:
    """The columns of the stored file of a harvested dataset (from its extraction profile)."""
    package = model.Package.get(package_id)
    for resource in package.resources if package is not None else []:
        try:
            profile = json.loads(resource.extras.get("dataclic_profile") or "{}")
        except (TypeError, ValueError):
            continue
        if resource.url_type == "upload" and isinstance(profile.get("columns"), list):
            return [str(c) for c in profile["columns"]]
    return []


class DataclicHarvester(GatherStage, ImportStage, HarvesterBase, p.SingletonPlugin):
    """Base of the six dataclic harvester plugins."""

    p.implements(IHarvester)
    p.implements(p.IPackageController, inherit=True)
    p.implements(p.IConfigurer, inherit=True)
    p.implements(p.ITemplateHelpers, inherit=True)
    p.implements(p.IActions, inherit=True)
    p.implements(p.IConfigurable, inherit=True)

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_keys: ClassVar[dict[str, Check]] = {}

    def builds_offline(self, config: dict[str, Any]) -> bool:
        """True when :meth:`build_dataset` needs no remote call for this config (the record
        alone makes the dataset): an unchanged record is then recognised at the fetch stage,
        before any import work. Harvesters that download files while building say False."""
        return False

    # -- to implement per source kind ------------------------------------------------------
    def list_records(
        self, source_url: str, config: dict[str, Any], client: RemoteClient
    ) -> Iterator[RemoteRecord]:
        raise NotImplementedError

    def fetch_record(
        self, record: RemoteRecord, config: dict[str, Any], client: RemoteClient
    ) -> dict[str, Any]:
        if not record.url:
            raise RemoteError(record.guid, "no URL to fetch this record from")
        payload = client.get_json(record.url)
        if not isinstance(payload, dict):
            raise RemoteError(record.url, "the answer is not a JSON object", 200)
        return payload

    def build_dataset(
        self, content: dict[str, Any], config: dict[str, Any], source_url: str,
        client: RemoteClient,
    ) -> DatasetDraft:
        raise NotImplementedError

    def check_config(self, config: dict[str, Any]) -> None:
        """Cross-key checks of one harvester (keys and types are checked already)."""

    # -- IConfigurer, ITemplateHelpers: the curated catalogue on the new-source page ----------
    def update_config(self, config_: Any) -> None:
        tk.add_template_directory(config_, "templates")

    def get_helpers(self) -> dict[str, Callable[..., Any]]:
        return {"dataclic_green_sources": green_sources_for_form}

    # -- IConfigurable: the licences French portals use, in CKAN's register -----------------
    def configure(self, config_: Any) -> None:
        register_french_licences()

    # -- IActions: refuse a non-http(s) source URL when the source is saved -------------------
    def get_actions(self) -> dict[str, Callable[..., Any]]:
        return {"package_create": _source_url_checked_create,
                "package_update": _source_url_checked_update}

    # -- IPackageController ----------------------------------------------------------------
    def before_dataset_index(self, pkg_dict: dict[str, Any]) -> dict[str, Any]:
        """Work around ckanext-harvest 1.6.3 on CKAN 2.12: ``harvest_source_reindex`` caches an
        unvalidated dict as the source's ``validated_data_dict``, so the next cached
        ``harvest_source_show`` has no ``source_type`` and ``harvester run-test`` fails."""
        if pkg_dict.get("type") != "harvest" and pkg_dict.get("dataset_type") != "harvest":
            return pkg_dict
        try:
            cached = json.loads(pkg_dict.get("validated_data_dict") or "{}")
        except (TypeError, ValueError):
            cached = {}
        if "source_type" not in cached:
            shown = tk.get_action("harvest_source_show")(
                {"ignore_auth": True, "use_cache": False}, {"id": pkg_dict["id"]}
            )
            pkg_dict["validated_data_dict"] = json.dumps(shown, default=str)
        return pkg_dict

    def after_dataset_show(self, context: Any, pkg_dict: dict[str, Any]) -> dict[str, Any]:
        """A licence the portal's register does not know shows its remote title and URL."""
        extras = {e.get("key"): e.get("value") for e in pkg_dict.get("extras") or []
                  if isinstance(e, dict)}
        title = extras.get("dataclic_license_title")
        if title and pkg_dict.get("license_title") in (None, "", pkg_dict.get("license_id")):
            pkg_dict["license_title"] = title
            if extras.get("dataclic_license_url"):
                pkg_dict["license_url"] = extras["dataclic_license_url"]
        return pkg_dict

    # -- IHarvester ------------------------------------------------------------------------
    def info(self) -> dict[str, str]:
        # The description is translated in the extension's catalogue (translation_sources).
        return {"name": self.name, "title": self.title, "description": tk._(self.description)}

    def validate_config(self, config: str | None) -> str:
        parsed = parse_source_config(config, self.config_keys)
        self.check_config(parsed)
        return json.dumps(parsed, ensure_ascii=False, sort_keys=True) if parsed else ""

    def _config(self, source: Any) -> dict[str, Any]:
        return parse_source_config(source.config, self.config_keys)

    @staticmethod
    def _previous(harvest_object: Any) -> Any:
        """The current object of the same guid and source, if any."""
        return (
            model.Session.query(HarvestObject)
            .filter(HarvestObject.guid == harvest_object.guid)
            .filter(HarvestObject.harvest_source_id == harvest_object.harvest_source_id)
            .filter(HarvestObject.current.is_(True))
            .first()
        )

    def selecting_params(self, config: dict[str, Any]) -> dict[str, Any]:
        """The query parameters of the config that select the remote data (part of a
        dataset's identity: two sources with other parameters make other datasets)."""
        return {}

    def _build(
        self, harvest_object: Any, config: dict[str, Any], client: RemoteClient,
        source: Any = None, previous: tuple[str | None, str | None] | None = None,
    ) -> tuple[DatasetDraft, str]:
        """The draft of a record and its stable package id (errors are the caller's).

        ``previous`` is the (package id, identity key) of the source's current object for
        the same guid; the default reads it from the database."""
        source = source if source is not None else harvest_object.source
        content = json.loads(harvest_object.content or "null")
        if not isinstance(content, dict):
            raise TypeError("the record is not a JSON object")
        if previous is None:
            current = self._previous(harvest_object)
            previous = ((current.package_id, self._extra(current, "identity"))
                        if current is not None else (None, None))
        if previous[0] and not self.builds_offline(config):
            content["_previous_columns"] = previous_file_columns(previous[0])
        if config.get("perimeter"):
            from .territorial import build_territorial

            draft = build_territorial(self, harvest_object, content, config, source.url, client)
        else:
            draft = self.build_dataset(content, config, source.url, client)
        draft.key = identity_key(self.name, source.url, draft.identity or harvest_object.guid,
                                 self.selecting_params(config))
        package_id = owned_package(package_id_for(draft.key), draft.key, *previous)
        return draft, package_id

    @staticmethod
    def _status(harvest_object: Any) -> str | None:
        return DataclicHarvester._extra(harvest_object, "status")

    @staticmethod
    def _extra(harvest_object: Any, key: str) -> str | None:
        for extra in harvest_object.extras:
            if extra.key == key:
                return extra.value
        return None

    def _context(self) -> dict[str, Any]:
        return {"model": model, "session": model.Session, "user": self._get_user_name(),
                "ignore_auth": True}
