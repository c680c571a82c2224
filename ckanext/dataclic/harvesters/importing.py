"""The import stage every dataclic harvester shares: build, compare, create or update the
dataset (with local copies of its files), and withdraw what the source no longer lists."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ckan.plugins.toolkit as tk
import sqlalchemy as sa
from ckan import model
from ckan.lib.munge import munge_tag
from ckanext.harvest.model import HarvestGatherError, HarvestObjectExtra

from ckanext.dataclic.logic import dataset_fields
from ckanext.dataclic.remote import RemoteClient, RemoteError

from .config import SourceConfigError, client_for
from .identity import free_name, other_source_owning
from .licences import unknown_licence_extras
from .profiles import merge_profile, profile_from_file
from .records import DatasetDraft
from .storage import DEFAULT_LOCAL_COPY_MAX_BYTES, stage_download, store_resource_file
from .text import notes_from_html

PROFILE_FIELD = "dataclic_profile"


class ImportStage:
    """Mixin of :class:`~.base.DataclicHarvester`: ``import_stage`` and what it needs."""

    @staticmethod
    def _digest(package: dict[str, Any]) -> str:
        from .territorial import VOLATILE_EXTRAS

        hashed = {**{k: v for k, v in package.items() if k not in VOLATILE_EXTRAS}, "extras": [
            e for e in package.get("extras", []) if e["key"] not in VOLATILE_EXTRAS
        ], "resources": [
            {k: v for k, v in r.items() if not k.startswith("_")} for r in package["resources"]
        ]}
        return hashlib.sha256(
            json.dumps(hashed, sort_keys=True, ensure_ascii=False, default=str).encode()
        ).hexdigest()

    def import_stage(self, harvest_object: Any) -> bool | str:
        source = harvest_object.source
        try:
            config = self._config(source)
        except SourceConfigError as exc:
            self._save_object_error(str(exc), harvest_object, "Import")
            return False
        previous = self._previous(harvest_object)
        if self._status(harvest_object) == "delete":
            return self._withdraw(harvest_object, previous, config)
        client = client_for(config)
        package: dict[str, Any] = {}
        try:
            return self._import(harvest_object, previous, config, client, package)
        finally:
            client.close()
            for resource in package.get("resources", []):
                staged = resource.get("_local_file")
                if staged and Path(staged).exists():
                    Path(staged).unlink()

    def _import(
        self, harvest_object: Any, previous: Any, config: dict[str, Any], client: RemoteClient,
        package: dict[str, Any],
    ) -> bool | str:
        source = harvest_object.source
        remote_url = self._extra(harvest_object, "url") or source.url
        try:
            draft, package_id = self._build(harvest_object, config, client, previous=(
                (previous.package_id, self._extra(previous, "identity"))
                if previous is not None else (None, None)))
        except RemoteError as exc:
            self._save_object_error(str(exc), harvest_object, "Import")
            return False
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._save_object_error(
                f"{remote_url}: malformed remote record ({type(exc).__name__}: {exc})",
                harvest_object, "Import",
            )
            return False
        # Staged files are cleaned up by the caller whatever happens next.
        package["resources"] = draft.resources

        if draft.records_count == 0 and not config.get("allow_empty"):
            return self._empty_answer(harvest_object, previous, draft, package_id,
                                      draft.remote_url or remote_url)
        # The identity key is looked up (a join on the objects' extras) only before a
        # dataset is created: an existing one is checked by its id.
        new = model.Package.get(package_id) is None
        owner = self._other_source_owning(package_id, source.id, draft.key if new else None)
        if owner:
            self._save_object_error(
                f"{draft.remote_url or remote_url}: already harvested by source {owner!r}; "
                "skipped so that the dataset is not duplicated",
                harvest_object, "Import",
            )
            return False
        package.update(self._package_dict(draft, package_id, source, config))
        digest = self._digest(package)
        harvest_object.extras.append(HarvestObjectExtra(key="content_hash", value=digest))
        harvest_object.extras.append(HarvestObjectExtra(key="identity", value=draft.key))
        existing = model.Package.get(package_id)
        force = getattr(harvest_object, "force_import", False)
        if (previous is not None and existing is not None and existing.state == "active"
                and self._extra(previous, "content_hash") == digest and not force):
            self._make_current(harvest_object, previous, package_id,
                               commit=not self._saved_by_queue(harvest_object))
            return "unchanged"
        if config.get("local_copy"):
            for resource in package["resources"]:
                self._copy_locally(resource, config, client)
        data = {**package, "resources": [
            {k: v for k, v in r.items() if not k.startswith("_")} for r in package["resources"]
        ]}
        if existing is None:
            data["name"] = self._free_name(draft.name_hint, package_id)
        else:
            data["name"] = existing.name  # stable URL across re-harvests
            data["state"] = "active"
        # ckanext-harvest indexes a dataset with its source (``harvest_source_id``, which the
        # source page searches on) from the dataset's current harvest object: make this
        # object current before the action indexes the dataset. The package row comes with
        # the action, hence the deferred foreign key (as ckanext-harvest's own harvesters do).
        self._make_current(harvest_object, previous, package_id, commit=False)
        model.Session.execute(
            sa.text("SET CONSTRAINTS harvest_object_package_id_fkey DEFERRED"))
        model.Session.flush()
        try:
            if existing is None:
                tk.get_action("package_create")(self._context(), data)
            else:
                tk.get_action("package_update")(self._context(), data)
        except tk.ValidationError as exc:
            model.Session.rollback()
            self._save_object_error(
                f"{draft.remote_url or remote_url}: the dataset was refused by CKAN "
                f"({exc.error_summary})", harvest_object, "Import",
            )
            return False
        for resource in package["resources"]:
            if resource.get("_local_file"):
                store_resource_file(resource["id"], Path(resource["_local_file"]))
        if previous is not None and previous.package_id not in (None, package_id):
            # The source now selects other data (its parameters changed): the dataset of
            # the old selection goes, as if the source no longer listed it.
            self._retire(previous.package_id, config)
        self._make_current(harvest_object, previous, package_id,
                           commit=not self._saved_by_queue(harvest_object))
        return True

    def _copy_locally(
        self, resource: dict[str, Any], config: dict[str, Any], client: RemoteClient
    ) -> None:
        """Replace the remote link by a copy in the portal's storage, within the size cap."""
        if resource.get("_local_file") or not resource.get("url"):
            return
        cap = config.get("local_copy_max_bytes", DEFAULT_LOCAL_COPY_MAX_BYTES)
        name = Path(urlsplit(resource["url"]).path).name or "data"
        try:
            staged = stage_download(client, resource["url"], None, name, cap)
        except RemoteError as exc:
            resource["dataclic_local_copy"] = f"not copied, kept the remote link: {exc.reason}"
            return
        resource["dataclic_remote_file_url"] = resource["url"]
        resource.update(staged)
        if not resource.get(PROFILE_FIELD):
            detected = profile_from_file(Path(staged["_local_file"]),
                                         str(resource.get("format") or ""))
            if detected:
                resource[PROFILE_FIELD] = detected

    @staticmethod
    def _saved_by_queue(harvest_object: Any) -> bool:
        """True inside ckanext-harvest's ``fetch_and_import_stages``, which sets the state
        ``IMPORT`` before the import stage and saves (commits) the object right after it:
        our own commit of the same rows would be one more round trip per object. Other
        callers (``harvest_objects_import``) do not commit, so we do."""
        return harvest_object.state == "IMPORT"

    def _make_current(
        self, harvest_object: Any, previous: Any, package_id: str, commit: bool = True
    ) -> None:
        if previous is not None and previous is not harvest_object:
            previous.current = False
            previous.add()
        harvest_object.package_id = package_id
        harvest_object.current = True
        harvest_object.add()
        if commit:
            model.Session.commit()

    def _empty_answer(
        self, harvest_object: Any, previous: Any, draft: DatasetDraft, package_id: str,
        remote_url: str,
    ) -> str:
        """An answer with no record never creates an empty dataset nor wipes a full one:
        the object is closed with a message, the previous data (if any) stays."""
        existing = model.Package.get(package_id)
        if existing is None or existing.state != "active":
            self._save_object_error(tk._(
                "{url}: the source returned no record for {title}; no dataset is created "
                "until it returns some"
            ).format(url=remote_url, title=draft.title), harvest_object, "Import")
            return "unchanged"
        kept = existing.extras.get("records_count") or "?"
        when = (previous.import_finished if previous is not None and previous.import_finished
                else existing.metadata_modified)
        message = tk._(
            "{url}: 0 records returned, {count} kept from {date} (the source config's "
            "\"allow_empty\": true publishes an empty answer)"
        ).format(url=remote_url, count=kept, date=when.date().isoformat() if when else "?")
        self._save_object_error(message, harvest_object, "Import")
        model.Session.add(HarvestGatherError(message=message, job=harvest_object.job))
        return "unchanged"

    def _withdraw(self, harvest_object: Any, previous: Any, config: dict[str, Any]) -> bool:
        package_id = harvest_object.package_id or (previous.package_id if previous else None)
        if package_id:
            self._retire(package_id, config)
        if previous is not None:
            previous.current = False
            previous.add()
        harvest_object.current = False
        harvest_object.add()
        model.Session.commit()
        return True

    def _retire(self, package_id: str, config: dict[str, Any]) -> None:
        """Delete a dataset the source no longer lists, or mark it (``delete_mode: keep``)."""
        package = model.Package.get(package_id)
        if package is not None and package.state == "active":
            context = self._context()
            if config.get("delete_mode", "delete") == "delete":
                tk.get_action("package_delete")(context, {"id": package_id})
            else:
                data = tk.get_action("package_show")(context, {"id": package_id})
                extras = [e for e in data.get("extras", [])
                          if e["key"] != "dataclic_removed_at_source"]
                extras.append({"key": "dataclic_removed_at_source",
                               "value": dt.date.today().isoformat()})
                data["extras"] = extras
                tk.get_action("package_update")(self._context(), data)

    _other_source_owning = staticmethod(other_source_owning)
    _free_name = staticmethod(free_name)

    def _package_dict(
        self, draft: DatasetDraft, package_id: str, source: Any, config: dict[str, Any],
        source_package: Any = None,
    ) -> dict[str, Any]:
        if source_package is None:
            source_package = model.Package.get(source.id)
        tags = list(dict.fromkeys(
            t for t in (munge_tag(tag)[:100] for tag in draft.tags + config.get("default_tags", []))
            if len(t) >= 2
        ))
        extras = {**draft.extras, "dataclic_harvester": self.name,
                  "dataclic_remote_url": draft.remote_url,
                  **unknown_licence_extras(draft.license_id, draft.license_title,
                                           draft.license_url)}
        resources = []
        for resource in draft.resources:
            res = {k: v for k, v in resource.items() if v not in (None, "") and k != "key"}
            res["id"] = str(uuid.uuid5(uuid.UUID(package_id), str(resource["key"])))
            if config.get("profile"):
                res[PROFILE_FIELD] = merge_profile(res.get(PROFILE_FIELD), config["profile"])
            resources.append(res)
        return {
            "id": package_id,
            "title": draft.title[:1000] or package_id,
            "notes": notes_from_html(draft.notes),
            "url": draft.remote_url,
            "license_id": draft.license_id,
            "owner_org": source_package.owner_org if source_package else None,
            "tags": [{"name": t} for t in tags],
            # free extras, or the schema's fields on a ckanext-scheming portal
            **dataset_fields.as_package_fields({k: v for k, v in sorted(extras.items()) if v}),
            "resources": resources,
        }

