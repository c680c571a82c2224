"""The gather and fetch stages every dataclic harvester shares: listing with incremental
status and deletions, unchanged records closed as early as possible, a job never left
Running."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

from ckan import model
from ckanext.harvest.model import HarvestGatherError, HarvestObject, HarvestObjectExtra

from ckanext.dataclic.remote import RemoteError

from .config import SourceConfigError, check_source_url, client_for
from .records import RemoteRecord

log = logging.getLogger(__name__)


class GatherStage:
    """Mixin of :class:`~.base.DataclicHarvester`: ``gather_stage`` and ``fetch_stage``."""

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
                digest, key = unchanged[record.guid]
                obj.extras.append(HarvestObjectExtra(key="content_hash", value=digest))
                obj.extras.append(HarvestObjectExtra(key="identity", value=key))
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
    ) -> dict[str, tuple[str, str]]:
        """Guid → (content hash, identity key) of the listed records that build exactly the dataset their
        current object imported (same hash, dataset active, owned by this source).

        Only for harvesters that build offline and records the listing carried: the check
        then costs a few bulk queries and a build per record, instead of a trip through the
        fetch queue with ckanext-harvest's four commits per object. Anything uncertain is
        left to the fetch and import stages."""
        if not self.builds_offline(config) or config.get("perimeter"):
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
        keys = dict(
            model.Session.query(HarvestObject.guid, HarvestObjectExtra.value)
            .join(HarvestObjectExtra, HarvestObjectExtra.harvest_object_id == HarvestObject.id)
            .filter(HarvestObject.harvest_source_id == source.id)
            .filter(HarvestObject.current.is_(True))
            .filter(HarvestObjectExtra.key == "identity")
        )
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
        unchanged: dict[str, tuple[str, str]] = {}
        source_package = model.Package.get(source.id)  # its organisation, read once
        client = client_for(config)
        try:
            for guid, (package_id, digest) in hashes.items():
                if package_id not in active or package_id in elsewhere or guid not in keys:
                    continue  # harvested before identity keys: the import records its key
                holder = HarvestObject(guid=guid, content=json.dumps(listed[guid].content))
                try:
                    draft, built_id = self._build(holder, config, client, source,
                                                  (package_id, keys[guid]))
                except (RemoteError, ValueError, KeyError, TypeError, AttributeError):
                    continue  # the import stage reports it
                if built_id != package_id or draft.key != keys[guid]:
                    continue
                package = self._package_dict(draft, package_id, source, config, source_package)
                if self._digest(package) == digest:
                    unchanged[guid] = (digest, draft.key)
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
        if not self.builds_offline(config) or config.get("perimeter"):
            return True
        previous = self._previous(harvest_object)
        if (previous is None or not self._extra(previous, "content_hash")
                or not self._extra(previous, "identity")):
            return True
        client = client_for(config)
        try:
            built = self._build(harvest_object, config, client, previous=(
                previous.package_id, self._extra(previous, "identity")))
        except (RemoteError, ValueError, KeyError, TypeError, AttributeError):
            return True  # the import stage reports it, with the remote URL
        finally:
            client.close()
        draft, package_id = built
        if (draft.key != self._extra(previous, "identity")
                or self._other_source_owning(package_id, source.id, draft.key)):
            return True
        package = self._package_dict(draft, package_id, source, config)
        digest = self._digest(package)
        existing = model.Package.get(package_id)
        if (existing is None or existing.state != "active"
                or self._extra(previous, "content_hash") != digest):
            return True
        harvest_object.extras.append(HarvestObjectExtra(key="content_hash", value=digest))
        harvest_object.extras.append(HarvestObjectExtra(key="identity", value=draft.key))
        # committed by ckanext-harvest's next save of the object
        self._make_current(harvest_object, previous, package_id, commit=False)
        return "unchanged"
