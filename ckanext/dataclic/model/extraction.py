"""Tables of the CKAN-side extraction: resource profiles, extractions, publications.

Created by ``ckan db upgrade -p dataclic`` (revisions ``b2d4f6a8c013`` to
``d4f6b8c0e237``). Rows are plain dictionaries for the callers; every write is its own short
transaction so that background jobs, web requests and the CLI see each other's changes at
once.
"""
from __future__ import annotations

import datetime
import json
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

profile_table = sa.Table(
    "dataclic_resource_profile",
    metadata,
    sa.Column("resource_id", sa.UnicodeText, primary_key=True),
    sa.Column("status", sa.UnicodeText, nullable=False),  # pending|detected|none|error
    sa.Column("profile", sa.UnicodeText),
    sa.Column("message", sa.UnicodeText),
    sa.Column("message_detail", sa.UnicodeText),  # JSON engine error detail (translatable)
    sa.Column("content_version", sa.UnicodeText, nullable=False, default=""),
    sa.Column("corrected", sa.Boolean, nullable=False, default=False),
    sa.Column("updated", sa.DateTime, nullable=False),
)

extraction_table = sa.Table(
    "dataclic_extraction",
    metadata,
    sa.Column("id", sa.UnicodeText, primary_key=True),
    sa.Column("cache_key", sa.UnicodeText, nullable=False),
    sa.Column("resource_id", sa.UnicodeText, nullable=False),
    sa.Column("package_id", sa.UnicodeText, nullable=False),
    sa.Column("perimeter", sa.UnicodeText, nullable=False),
    sa.Column("perimeter_name", sa.UnicodeText, nullable=False),
    sa.Column("vintage", sa.UnicodeText, nullable=False),
    sa.Column("mode", sa.UnicodeText, nullable=False),
    sa.Column("format", sa.UnicodeText, nullable=False),
    sa.Column("out_crs", sa.UnicodeText, nullable=False),
    sa.Column("enrich", sa.Boolean, nullable=False, default=False),
    sa.Column("status", sa.UnicodeText, nullable=False),  # queued|running|done|failed
    sa.Column("progress_done", sa.BigInteger, nullable=False, default=0),
    sa.Column("progress_total", sa.BigInteger),
    sa.Column("progress_unit", sa.UnicodeText, nullable=False, default="bytes"),
    sa.Column("report", sa.UnicodeText),
    sa.Column("error", sa.UnicodeText),
    sa.Column("path", sa.UnicodeText),
    sa.Column("filename", sa.UnicodeText),
    sa.Column("size", sa.BigInteger),
    sa.Column("user_id", sa.UnicodeText),
    sa.Column("client", sa.UnicodeText),
    sa.Column("job_id", sa.UnicodeText),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("started", sa.DateTime),
    sa.Column("finished", sa.DateTime),
    sa.Column("heartbeat", sa.DateTime),
    sa.Column("last_access", sa.DateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("options", sa.UnicodeText),  # JSON: grid variables, labels, threshold, wide
    sa.Column("error_detail", sa.UnicodeText),  # JSON engine error detail (translatable)
)

publication_table = sa.Table(
    "dataclic_publication",
    metadata,
    sa.Column("resource_id", sa.UnicodeText, primary_key=True),  # the published resource
    sa.Column("package_id", sa.UnicodeText, nullable=False),
    sa.Column("source_resource_id", sa.UnicodeText, nullable=False, index=True),
    sa.Column("perimeter", sa.UnicodeText, nullable=False),
    sa.Column("options", sa.UnicodeText, nullable=False),
    sa.Column("extraction_id", sa.UnicodeText),
    sa.Column("user_id", sa.UnicodeText),
    sa.Column("content_version", sa.UnicodeText, nullable=False, default=""),
    sa.Column("vintage", sa.UnicodeText, nullable=False, default=""),
    sa.Column("published", sa.DateTime, nullable=False),
    sa.Column("last_refresh", sa.DateTime),
    sa.Column("refresh_status", sa.UnicodeText),
    sa.Column("refresh_message", sa.UnicodeText),
)

ACTIVE_STATUSES = ("queued", "running")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def engine() -> sa.engine.Engine:
    from ckan import model

    return model.meta.engine  # type: ignore[return-value]


def _read(statement: Any) -> Any:
    """Reads go through CKAN's session: a web request then uses one pooled connection, not
    two (with many concurrent requests, two per request can exhaust the pool)."""
    from ckan import model

    return model.Session.execute(statement)


def _row(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


# -- profiles ---------------------------------------------------------------------------------
def get_profile(resource_id: str) -> dict[str, Any] | None:
    row = _read(profile_table.select().where(profile_table.c.resource_id == resource_id)).first()
    record = _row(row)
    if record is not None:
        record["profile"] = json.loads(record["profile"]) if record["profile"] else None
    return record


def save_profile(resource_id: str, *, status: str, profile: dict[str, Any] | None,
                 message: str | None, content_version: str, corrected: bool = False,
                 message_detail: str | None = None) -> None:
    from sqlalchemy.dialects.postgresql import insert

    values = {
        "status": status,
        "profile": json.dumps(profile, ensure_ascii=False) if profile is not None else None,
        "message": message,
        "message_detail": message_detail,
        "content_version": content_version,
        "corrected": corrected,
        "updated": now(),
    }
    statement = insert(profile_table).values(resource_id=resource_id, **values)
    statement = statement.on_conflict_do_update(index_elements=["resource_id"], set_=values)
    with engine().begin() as conn:
        conn.execute(statement)


def mark_profile_pending(resource_id: str, content_version: str) -> bool:
    """Record that a detection is due for this version; False when it is already known."""
    current = get_profile(resource_id)
    if current is not None and current["content_version"] == content_version:
        return False
    save_profile(resource_id, status="pending", profile=None, message=None,
                 content_version=content_version)
    return True


# -- extractions ------------------------------------------------------------------------------
def insert_extraction(values: dict[str, Any]) -> dict[str, Any]:
    """Insert a new extraction unless an identical one is queued, running or done.

    Returns ``(record, created)`` folded into the record as ``_created``. The partial unique
    index on ``cache_key`` makes two identical concurrent requests share one row.
    """
    from sqlalchemy.dialects.postgresql import insert

    statement = insert(extraction_table).values(**values).on_conflict_do_nothing()
    with engine().begin() as conn:
        created = conn.execute(statement).rowcount == 1
    if created:
        record = get_extraction(values["id"])
    else:
        record = find_by_cache_key(values["cache_key"])
    assert record is not None
    record["_created"] = created
    return record


def find_by_cache_key(cache_key: str) -> dict[str, Any] | None:
    row = _read(
        extraction_table.select()
        .where(extraction_table.c.cache_key == cache_key)
        .where(extraction_table.c.status != "failed")
        .order_by(extraction_table.c.created.desc())
    ).first()
    return _row(row)


def get_extraction(extraction_id: str) -> dict[str, Any] | None:
    row = _read(extraction_table.select().where(extraction_table.c.id == extraction_id)).first()
    return _row(row)


def update_extraction(extraction_id: str, *, only_if_status: tuple[str, ...] | None = None,
                      only_if_attempts: int | None = None, **values: Any) -> bool:
    """Update a record; with ``only_if_status`` only when its status is one of those, with
    ``only_if_attempts`` only while it is at that attempt (the attempt owns the record)."""
    statement = extraction_table.update().where(extraction_table.c.id == extraction_id)
    if only_if_status:
        statement = statement.where(extraction_table.c.status.in_(only_if_status))
    if only_if_attempts is not None:
        statement = statement.where(extraction_table.c.attempts == only_if_attempts)
    with engine().begin() as conn:
        return conn.execute(statement.values(**values)).rowcount == 1


def list_extractions(*, resource_id: str | None = None, user_id: str | None = None,
                     statuses: tuple[str, ...] | None = None,
                     limit: int = 20) -> list[dict[str, Any]]:
    statement = extraction_table.select().order_by(extraction_table.c.created.desc())
    if resource_id:
        statement = statement.where(extraction_table.c.resource_id == resource_id)
    if user_id:
        statement = statement.where(extraction_table.c.user_id == user_id)
    if statuses:
        statement = statement.where(extraction_table.c.status.in_(statuses))
    return [dict(r._mapping) for r in _read(statement.limit(limit))]


def count_active_for_client(client: str) -> int:
    with engine().connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(extraction_table)
            .where(extraction_table.c.client == client)
            .where(extraction_table.c.status.in_(ACTIVE_STATUSES))
        ).scalar_one()


def running_extractions() -> list[dict[str, Any]]:
    """Running records (own connection: called from heartbeat threads too)."""
    with engine().connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            extraction_table.select().where(extraction_table.c.status == "running"))]


def total_result_size() -> int:
    """Bytes taken by finished results."""
    with engine().connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(extraction_table.c.size), 0))
            .where(extraction_table.c.status == "done")
        ).scalar_one())


def purge_candidates() -> list[dict[str, Any]]:
    """Finished records, least recently used first."""
    with engine().connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            extraction_table.select()
            .where(extraction_table.c.status.in_(("done", "failed")))
            .order_by(extraction_table.c.last_access.asc())
        )]


def delete_extraction(extraction_id: str) -> None:
    with engine().begin() as conn:
        conn.execute(extraction_table.delete().where(extraction_table.c.id == extraction_id))


# -- publications -----------------------------------------------------------------------------
def save_publication(values: dict[str, Any]) -> None:
    from sqlalchemy.dialects.postgresql import insert

    statement = insert(publication_table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["resource_id"],
        set_={k: v for k, v in values.items() if k != "resource_id"},
    )
    with engine().begin() as conn:
        conn.execute(statement)


def get_publication(resource_id: str) -> dict[str, Any] | None:
    with engine().connect() as conn:
        row = conn.execute(
            publication_table.select().where(publication_table.c.resource_id == resource_id)
        ).first()
    return _row(row)


def list_publications(*, source_resource_id: str | None = None,
                      package_id: str | None = None) -> list[dict[str, Any]]:
    statement = publication_table.select().order_by(publication_table.c.published)
    if source_resource_id:
        statement = statement.where(
            publication_table.c.source_resource_id == source_resource_id)
    if package_id:
        statement = statement.where(publication_table.c.package_id == package_id)
    with engine().connect() as conn:
        return [dict(r._mapping) for r in conn.execute(statement)]


def update_publication(resource_id: str, **values: Any) -> None:
    with engine().begin() as conn:
        conn.execute(publication_table.update()
                     .where(publication_table.c.resource_id == resource_id).values(**values))
