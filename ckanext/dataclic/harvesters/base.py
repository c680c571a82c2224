"""What every dataclic harvester shares: source config checking, gather with incremental
status and deletions, per-object errors, stable identity and name collisions.

A harvester module only says how to list a source (:meth:`DataclicHarvester.list_records`),
how to fetch one record when the listing does not carry it, and how to turn a record into a
:class:`DatasetDraft`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import ckan.plugins as p
import ckan.plugins.toolkit as tk
import sqlalchemy as sa
from ckan import model
from ckan.lib.munge import munge_filename, munge_name, munge_tag
from ckanext.harvest.harvesters.base import HarvesterBase
from ckanext.harvest.interfaces import IHarvester
from ckanext.harvest.model import HarvestGatherError, HarvestObject, HarvestObjectExtra

from ckanext.dataclic.logic import dataset_fields

from .profiles import merge_profile, profile_from_file
from .remote import HostPolicy, RemoteClient, RemoteError, RemoteLimits

log = logging.getLogger(__name__)

IDENTITY_NAMESPACE = uuid.UUID("0b7c1f3e-5d7a-4c59-9a41-6f1f3d6c2a10")
NAME_MAX = 100
PROFILE_FIELD = "dataclic_profile"
DEFAULT_LOCAL_COPY_MAX_BYTES = 200 * 1024 * 1024


class SourceConfigError(ValueError):
    """A harvest source config that cannot be used; the message names the key."""


# -- source config ---------------------------------------------------------------------------
Check = Callable[[str, Any], Any]


def _positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SourceConfigError(f"'{key}' must be a positive number, not {value!r}")
    return float(value)


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SourceConfigError(f"'{key}' must be a positive whole number, not {value!r}")
    return value


def _retries(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise SourceConfigError(f"'{key}' must be a whole number from 0 to 10, not {value!r}")
    return value


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SourceConfigError(f"'{key}' must be true or false, not {value!r}")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SourceConfigError(f"'{key}' must be a non-empty string, not {value!r}")
    return value.strip()


def _text_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        raise SourceConfigError(f"'{key}' must be a non-empty list of strings")
    return [v.strip() for v in value]


def _mapping(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
    ):
        raise SourceConfigError(f"'{key}' must be an object of strings or numbers")
    return value


def one_of(*choices: str) -> Check:
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise SourceConfigError(f"'{key}' must be one of {', '.join(choices)}, not {value!r}")
        return value

    return check


def list_of(*choices: str) -> Check:
    def check(key: str, value: Any) -> list[str]:
        items = _text_list(key, value)
        wrong = [v for v in items if v not in choices]
        if wrong:
            raise SourceConfigError(
                f"'{key}' accepts only {', '.join(choices)}; got {', '.join(wrong)}"
            )
        return items

    return check


def _profile(key: str, value: Any) -> dict[str, Any]:
    allowed = {"code_column", "lat_column", "lon_column", "wkt_column", "point_column", "crs"}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise SourceConfigError(f"'{key}' must be an object of strings")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise SourceConfigError(f"'{key}' has unknown field(s): {', '.join(unknown)}")
    return value


COMMON_KEYS: dict[str, Check] = {
    "delete_mode": one_of("delete", "keep"),
    "connect_timeout": _positive_number,
    "read_timeout": _positive_number,
    "deadline": _positive_number,
    "max_retries": _retries,
    "backoff": _positive_number,
    "max_wait": _positive_number,
    "max_bytes": _positive_int,
    "max_pages": _positive_int,
    "default_tags": _text_list,
    "profile": _profile,
    "local_copy": _boolean,
    "local_copy_max_bytes": _positive_int,
    "max_datasets": _positive_int,
}


def parse_source_config(text: str | None, keys: dict[str, Check]) -> dict[str, Any]:
    if not text or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceConfigError(f"the configuration is not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise SourceConfigError("the configuration must be a JSON object")
    allowed = {**COMMON_KEYS, **keys}
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise SourceConfigError(
            f"unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return {key: allowed[key](key, value) for key, value in data.items()}


def api_root(source_url: str, versioned_path: str, *, marker: str = "/api/") -> str:
    """The API root ``<site>/<versioned_path>`` of a portal given by its site URL or by any
    URL under its API (``https://x/api/1/datasets/`` with ``api/1`` → ``https://x/api/1``)."""
    url = source_url.rstrip("/")
    if marker in url + "/":
        url = url[: url.index(marker.rstrip("/"))]
    return f"{url}/{versioned_path}"


def check_source_url(url: str) -> None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourceConfigError(f"the source URL must be an http(s) URL, not {url!r}")


# -- what harvester modules produce ---------------------------------------------------------
@dataclass
class RemoteRecord:
    """One object of the source: its stable id, and its metadata if the listing carried it."""

    guid: str
    content: dict[str, Any] | None = None
    url: str | None = None


@dataclass
class DatasetDraft:
    """A CKAN dataset built from a remote record, before identity and naming are applied."""

    name_hint: str
    title: str
    notes: str = ""
    remote_url: str = ""
    license_id: str | None = None
    tags: list[str] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)
    identity: str | None = None


LICENCES = {
    "lov2": "etalab-2.0", "fr-lo": "etalab-2.0", "licence ouverte v2.0": "etalab-2.0",
    "licence ouverte / open licence": "etalab-2.0", "open licence": "etalab-2.0",
    "etalab-2.0": "etalab-2.0", "etalab 2.0": "etalab-2.0", "licence ouverte": "etalab-2.0",
    "odc-odbl": "odc-odbl", "odbl": "odc-odbl", "open database license (odbl)": "odc-odbl",
    "cc-by": "cc-by", "cc-by-4.0": "cc-by", "cc by 4.0": "cc-by", "cc-by-sa": "cc-by-sa",
    "cc-zero": "cc-zero", "cc0": "cc-zero", "notspecified": "notspecified",
}


def licence_id(remote: str | None) -> str | None:
    if not remote:
        return None
    return LICENCES.get(remote.strip().lower(), remote.strip()[:100])


def iso_timestamp(value: Any) -> str | None:
    """A remote timestamp as the naive-UTC ISO string CKAN's validators accept."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return stamp.isoformat()


# -- local copies ----------------------------------------------------------------------------
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


# -- the harvester ---------------------------------------------------------------------------
def allowed_hosts() -> frozenset[str]:
    hosts = tk.config.get("ckanext.dataclic.harvest.allowed_hosts") or []
    if isinstance(hosts, str):
        hosts = hosts.split()
    return frozenset(h.lower() for h in hosts)


def client_for(config: dict[str, Any]) -> RemoteClient:
    names = ("connect_timeout", "read_timeout", "deadline", "max_retries", "backoff",
             "max_wait", "max_bytes", "max_pages")
    limits = RemoteLimits(**{k: config[k] for k in names if k in config})
    return RemoteClient(limits, HostPolicy(allowed_hosts()))


class DataclicHarvester(HarvesterBase, p.SingletonPlugin):
    """Base of the six dataclic harvester plugins."""

    p.implements(IHarvester)
    p.implements(p.IPackageController, inherit=True)
    p.implements(p.IConfigurer, inherit=True)
    p.implements(p.ITemplateHelpers, inherit=True)
    p.implements(p.IActions, inherit=True)

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

    # -- IHarvester ------------------------------------------------------------------------
    def info(self) -> dict[str, str]:
        return {"name": self.name, "title": self.title, "description": self.description}

    def validate_config(self, config: str | None) -> str:
        parsed = parse_source_config(config, self.config_keys)
        self.check_config(parsed)
        return json.dumps(parsed, ensure_ascii=False, sort_keys=True) if parsed else ""

    def _config(self, source: Any) -> dict[str, Any]:
        return parse_source_config(source.config, self.config_keys)

    def gather_stage(self, harvest_job: Any) -> list[str] | None:
        source = harvest_job.source
        try:
            check_source_url(source.url)
            config = self._config(source)
            client = client_for(config)
            try:
                records = self._unique(self.list_records(source.url, config, client),
                                       config.get("max_datasets"))
            finally:
                client.close()
        except (RemoteError, SourceConfigError) as exc:
            return self._fail_gather(harvest_job, str(exc))
        except Exception as exc:  # a bug must still end the job, with the reason visible
            log.exception("Gather failed for source %s", source.id)
            return self._fail_gather(harvest_job, f"Unexpected gather error: {exc!r}")

        previous = {
            obj.guid: obj.package_id
            for obj in model.Session.query(HarvestObject.guid, HarvestObject.package_id)
            .filter(HarvestObject.harvest_source_id == source.id)
            .filter(HarvestObject.current.is_(True))
        }
        unchanged = (
            {} if getattr(harvest_job, "force_import", None)
            else self._unchanged_at_gather(source, config, records)
        )
        ids: list[str] = []
        for record in records:
            status = "change" if record.guid in previous else "new"
            obj = HarvestObject(
                guid=record.guid, job=harvest_job, package_id=previous.get(record.guid),
                content=json.dumps(record.content) if record.content is not None else None,
                extras=[HarvestObjectExtra(key="status", value=status)]
                + ([HarvestObjectExtra(key="url", value=record.url)] if record.url else []),
            )
            if record.guid in unchanged:
                # Closed here as ckanext-harvest closes a "not modified" object; not queued.
                obj.extras.append(
                    HarvestObjectExtra(key="content_hash", value=unchanged[record.guid]))
                obj.state = "COMPLETE"
                obj.report_status = "not modified"
                obj.current = True
                model.Session.add(obj)
                continue
            model.Session.add(obj)
            ids.append(obj)
        if unchanged:
            model.Session.query(HarvestObject).filter(
                HarvestObject.harvest_source_id == source.id,
                HarvestObject.current.is_(True),
                HarvestObject.guid.in_(list(unchanged)),
                HarvestObject.harvest_job_id != harvest_job.id,
            ).update({"current": False}, synchronize_session=False)
        seen = {record.guid for record in records}
        for guid, package_id in previous.items():
            if guid not in seen:
                obj = HarvestObject(
                    guid=guid, job=harvest_job, package_id=package_id,
                    extras=[HarvestObjectExtra(key="status", value="delete")],
                )
                model.Session.add(obj)
                ids.append(obj)
        model.Session.commit()
        if not ids:
            self._finish_job(harvest_job)
        return [obj.id for obj in ids]

    def _unchanged_at_gather(
        self, source: Any, config: dict[str, Any], records: list[RemoteRecord]
    ) -> dict[str, str]:
        """Guid → content hash of the listed records that build exactly the dataset their
        current object imported (same hash, dataset active, owned by this source).

        Only for harvesters that build offline and records the listing carried: the check
        then costs a few bulk queries and a build per record, instead of a trip through the
        fetch queue with ckanext-harvest's four commits per object. Anything uncertain is
        left to the fetch and import stages."""
        if not self.builds_offline(config):
            return {}
        listed = {r.guid: r for r in records if r.content is not None}
        if not listed:
            return {}
        hashes = {
            guid: (package_id, digest)
            for guid, package_id, digest in model.Session.query(
                HarvestObject.guid, HarvestObject.package_id, HarvestObjectExtra.value)
            .join(HarvestObjectExtra, HarvestObjectExtra.harvest_object_id == HarvestObject.id)
            .filter(HarvestObject.harvest_source_id == source.id)
            .filter(HarvestObject.current.is_(True))
            .filter(HarvestObjectExtra.key == "content_hash")
            if guid in listed and package_id
        }
        if not hashes:
            return {}
        package_ids = [package_id for package_id, _ in hashes.values()]
        active = {
            row[0] for row in model.Session.query(model.Package.id)
            .filter(model.Package.id.in_(package_ids))
            .filter(model.Package.state == "active")
        }
        elsewhere = {
            row[0] for row in model.Session.query(HarvestObject.package_id)
            .filter(HarvestObject.package_id.in_(package_ids))
            .filter(HarvestObject.current.is_(True))
            .filter(HarvestObject.harvest_source_id != source.id)
        }
        unchanged: dict[str, str] = {}
        source_package = model.Package.get(source.id)  # its organisation, read once
        client = client_for(config)
        try:
            for guid, (package_id, digest) in hashes.items():
                if package_id not in active or package_id in elsewhere:
                    continue
                holder = HarvestObject(guid=guid, content=json.dumps(listed[guid].content))
                try:
                    draft, built_id = self._build(holder, config, client, source)
                except (RemoteError, ValueError, KeyError, TypeError, AttributeError):
                    continue  # the import stage reports it
                if built_id != package_id:
                    continue
                package = self._package_dict(draft, package_id, source, config, source_package)
                if self._digest(package) == digest:
                    unchanged[guid] = digest
        finally:
            client.close()
        return unchanged

    @staticmethod
    def _unique(records: Iterator[RemoteRecord], limit: int | None = None) -> list[RemoteRecord]:
        """Drop repeated guids; stop listing (and paging) once ``limit`` records are kept."""
        seen: dict[str, RemoteRecord] = {}
        for record in records:
            seen.setdefault(record.guid, record)
            if limit and len(seen) >= limit:
                break
        return list(seen.values())

    def _fail_gather(self, harvest_job: Any, message: str) -> None:
        """Record a fatal gather error and end the job: never leave it "Running"."""
        model.Session.rollback()
        HarvestGatherError.create(message, harvest_job)
        self._finish_job(harvest_job)

    @staticmethod
    def _finish_job(harvest_job: Any) -> None:
        harvest_job.status = "Finished"
        # ckanext-harvest stores naive UTC timestamps
        harvest_job.finished = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        harvest_job.save()

    def fetch_stage(self, harvest_object: Any) -> bool | str:
        status = self._status(harvest_object)
        if status == "delete":
            return True
        if harvest_object.content:
            return self._unchanged_at_fetch(harvest_object, status)
        record = RemoteRecord(harvest_object.guid, url=self._extra(harvest_object, "url"))
        try:
            config = self._config(harvest_object.source)
            client = client_for(config)
            try:
                content = self.fetch_record(record, config, client)
            finally:
                client.close()
        except (RemoteError, SourceConfigError) as exc:
            self._save_object_error(str(exc), harvest_object, "Fetch")
            return False
        harvest_object.content = json.dumps(content)
        harvest_object.save()
        return self._unchanged_at_fetch(harvest_object, self._status(harvest_object))

    def _unchanged_at_fetch(self, harvest_object: Any, status: str | None) -> bool | str:
        """``"unchanged"`` when the record builds exactly the dataset already imported.

        ckanext-harvest then closes the object as "not modified" without an import stage:
        no package action, and two bookkeeping commits fewer. Any doubt (new record, build
        error, harvester that downloads while building, forced import) goes on to the import
        stage, which decides and reports as before."""
        if status == "new" or getattr(harvest_object, "force_import", False):
            return True
        source = harvest_object.source
        try:
            config = self._config(source)
        except SourceConfigError:
            return True
        if not self.builds_offline(config):
            return True
        previous = self._previous(harvest_object)
        if previous is None or not self._extra(previous, "content_hash"):
            return True
        client = client_for(config)
        try:
            built = self._build(harvest_object, config, client)
        except (RemoteError, ValueError, KeyError, TypeError, AttributeError):
            return True  # the import stage reports it, with the remote URL
        finally:
            client.close()
        draft, package_id = built
        if self._other_source_owning(package_id, source.id):
            return True
        package = self._package_dict(draft, package_id, source, config)
        digest = self._digest(package)
        existing = model.Package.get(package_id)
        if (existing is None or existing.state != "active"
                or self._extra(previous, "content_hash") != digest):
            return True
        harvest_object.extras.append(HarvestObjectExtra(key="content_hash", value=digest))
        # committed by ckanext-harvest's next save of the object
        self._make_current(harvest_object, previous, package_id, commit=False)
        return "unchanged"

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

    def _build(
        self, harvest_object: Any, config: dict[str, Any], client: RemoteClient,
        source: Any = None,
    ) -> tuple[DatasetDraft, str]:
        """The draft of a record and its stable package id (errors are the caller's)."""
        source = source if source is not None else harvest_object.source
        content = json.loads(harvest_object.content or "null")
        if not isinstance(content, dict):
            raise TypeError("the record is not a JSON object")
        draft = self.build_dataset(content, config, source.url, client)
        identity = draft.identity or harvest_object.guid
        package_id = str(uuid.uuid5(
            IDENTITY_NAMESPACE, f"{self.name}|{urlsplit(source.url).netloc}|{identity}"
        ))
        return draft, package_id

    @staticmethod
    def _digest(package: dict[str, Any]) -> str:
        hashed = {**package, "resources": [
            {k: v for k, v in r.items() if not k.startswith("_")} for r in package["resources"]
        ]}
        return hashlib.sha256(
            json.dumps(hashed, sort_keys=True, ensure_ascii=False, default=str).encode()
        ).hexdigest()

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
            draft, package_id = self._build(harvest_object, config, client)
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

        owner = self._other_source_owning(package_id, source.id)
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

    def _withdraw(self, harvest_object: Any, previous: Any, config: dict[str, Any]) -> bool:
        package_id = harvest_object.package_id or (previous.package_id if previous else None)
        package = model.Package.get(package_id) if package_id else None
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
        if previous is not None:
            previous.current = False
            previous.add()
        harvest_object.current = False
        harvest_object.add()
        model.Session.commit()
        return True

    @staticmethod
    def _other_source_owning(package_id: str, source_id: str) -> str | None:
        other = (
            model.Session.query(HarvestObject)
            .filter(HarvestObject.package_id == package_id)
            .filter(HarvestObject.current.is_(True))
            .filter(HarvestObject.harvest_source_id != source_id)
            .first()
        )
        if other is None:
            return None
        source_package = model.Package.get(other.harvest_source_id)
        if source_package is None or source_package.state != "active":
            return None
        return source_package.name

    @staticmethod
    def _free_name(hint: str, package_id: str) -> str:
        """The slug of the remote dataset; when taken, the slug plus part of its stable id."""
        ideal = munge_name(hint or package_id)[:NAME_MAX].strip("-_") or package_id
        if len(ideal) < 2:
            ideal = f"dataset-{ideal}"
        taken = model.Package.get(ideal)
        if taken is None or taken.id == package_id:
            return ideal
        return f"{ideal[:NAME_MAX - 9]}-{package_id[:8]}"

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
                  "dataclic_remote_url": draft.remote_url}
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
            "notes": draft.notes,
            "url": draft.remote_url,
            "license_id": draft.license_id,
            "owner_org": source_package.owner_org if source_package else None,
            "tags": [{"name": t} for t in tags],
            # free extras, or the schema's fields on a ckanext-scheming portal
            **dataset_fields.as_package_fields({k: v for k, v in sorted(extras.items()) if v}),
            "resources": resources,
        }


def _refuse_bad_source_url(data_dict: dict[str, Any]) -> None:
    if data_dict.get("type") != "harvest":
        return
    if not str(data_dict.get("source_type") or "").startswith("dataclic_"):
        return
    try:
        check_source_url(str(data_dict.get("url") or ""))
    except SourceConfigError:
        raise tk.ValidationError({"url": [tk._(
            "The source URL must be an http:// or https:// URL"
        )]}) from None


@tk.chained_action
def _source_url_checked_create(original: Callable[..., Any], context: Any, data_dict: Any) -> Any:
    _refuse_bad_source_url(data_dict)
    return original(context, data_dict)


@tk.chained_action
def _source_url_checked_update(original: Callable[..., Any], context: Any, data_dict: Any) -> Any:
    _refuse_bad_source_url(data_dict)
    return original(context, data_dict)


def green_sources_for_form() -> list[dict[str, Any]]:
    """Curated sources whose harvester is enabled, each with a link to a pre-filled form."""
    from .catalogue import load_catalogue

    entries = []
    for entry in load_catalogue():
        if not p.plugin_loaded(entry.harvester):
            continue
        link = tk.h.url_for(
            "harvest.new", url=entry.url, source_type=entry.harvester, title=entry.title,
            name=entry.name, notes=f"{entry.producer} ({entry.theme})",
            config=json.dumps(entry.config, ensure_ascii=False),
        )
        entries.append({**entry.__dict__, "new_url": link})
    return entries


def declare_harvest_options(declaration: Any, key: Any) -> None:
    """Load ``config_declaration.yaml`` once, whichever harvester plugins are enabled."""
    if declaration.get("ckanext.dataclic.harvest.allowed_hosts") is not None:
        return
    import yaml

    path = Path(__file__).with_name("config_declaration.yaml")
    with path.open("rb") as stream:
        declaration.load_dict(yaml.safe_load(stream))
