"""The index table: creation, upserts, deletions and searches, on its own autocommit engine.

The table lives in the CKAN database by default (``ckanext.dataclic.pgsearch.url`` may point
elsewhere). ``clean_db`` drops every table of that database, so every operation recreates the
table when PostgreSQL reports it missing, then retries once.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ckanext.dataclic.pgsearch.compiler import FACET_COLUMNS, TEXT_CONFIGS
from ckanext.dataclic.pgsearch.text import flatten, fold, folded_text_fields, weighted_text

log = logging.getLogger(__name__)

TABLE = "dataclic_pgsearch_index"
SCHEMA_VERSION = "dataclic_pgsearch 7"
# Large stored-only fields kept out of the JSONB document so facets never de-TOAST them.
STORED_TEXT_FIELDS = ("data_dict", "validated_data_dict")

_LOCK_KEY = 728_411_902  # advisory lock serialising table creation across processes

_INLINE_COLUMNS = (
    "index_id", "id", "site_id", "entity_type", "dataset_type", "name", "state", "capacity",
    "permission_labels", "title_sort", *FACET_COLUMNS, "search_vector",
)

_DDL = [
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        index_id text PRIMARY KEY,
        id text NOT NULL,
        site_id text,
        entity_type text,
        dataset_type text,
        name text,
        state text,
        capacity text,
        permission_labels text[] NOT NULL DEFAULT '{{}}',
        metadata_created timestamptz,
        metadata_modified timestamptz,
        indexed_ts timestamptz NOT NULL DEFAULT clock_timestamp(),
        title_sort text,
        organization text[] NOT NULL DEFAULT '{{}}',
        license_id text[] NOT NULL DEFAULT '{{}}',
        groups text[] NOT NULL DEFAULT '{{}}',
        tags text[] NOT NULL DEFAULT '{{}}',
        res_format text[] NOT NULL DEFAULT '{{}}',
        search_vector tsvector NOT NULL,
        folded jsonb NOT NULL DEFAULT '{{}}',
        doc jsonb NOT NULL,
        data_dict text,
        validated_data_dict text
    )
    """,
    # Keep the vector, filter and facet columns inline (compressed at worst) and let only the
    # wide document and stored dicts go to TOAST: filters, facets and ranking read the former
    # for every candidate row, and out-of-line fetches made searches 5 to 10 times slower.
    f"ALTER TABLE {TABLE} "
    + ", ".join(f"ALTER COLUMN {column} SET STORAGE MAIN" for column in _INLINE_COLUMNS),
    f"CREATE INDEX IF NOT EXISTS {TABLE}_vector_idx ON {TABLE} USING gin (search_vector)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_doc_idx ON {TABLE} USING gin (doc)",
    # No index on site_id/state/capacity/permission_labels: on a real catalogue they keep
    # nearly every row, and the planner would pick them over the full-text index.
    f"CREATE INDEX IF NOT EXISTS {TABLE}_id_idx ON {TABLE} (id)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_name_idx ON {TABLE} (name)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_type_idx ON {TABLE} (dataset_type)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_modified_idx ON {TABLE} (metadata_modified)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_created_idx ON {TABLE} (metadata_created)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_title_idx ON {TABLE} (title_sort)",
    *[
        f"CREATE INDEX IF NOT EXISTS {TABLE}_{column}_idx ON {TABLE} USING gin ({column})"
        for column in FACET_COLUMNS
    ],
    f"COMMENT ON TABLE {TABLE} IS '{SCHEMA_VERSION}'",
]


def _vector_sql(column: str, weight: str, configs: tuple[str, ...] = TEXT_CONFIGS) -> str:
    parts = " || ".join(f"to_tsvector('{cfg}', COALESCE({column}, ''))" for cfg in configs)
    return f"setweight({parts}, '{weight}')"


# Titles, names, tags and groups in every configuration, with positions. The long text
# (descriptions, resources, extras) with positions in French only (phrases, proximity) plus
# its unstemmed words and URLs without positions: the vector then stays small enough to be
# stored inline, which keeps matching and ranking fast.
_VECTOR_SQL = (
    f"{_vector_sql('r.text_a', 'A')} || {_vector_sql('r.text_b', 'B')} || "
    f"{_vector_sql('r.text_d', 'D', ('french',))} || "
    "strip(to_tsvector('simple', COALESCE(r.text_d, '') || ' ' || COALESCE(r.text_u, '')))"
)


_UPSERT = f"""
INSERT INTO {TABLE} (
    index_id, id, site_id, entity_type, dataset_type, name, state, capacity,
    permission_labels, metadata_created, metadata_modified, indexed_ts, title_sort,
    organization, license_id, groups, tags, res_format,
    search_vector, folded, doc, data_dict, validated_data_dict)
SELECT r.index_id, r.id, r.site_id, r.entity_type, r.dataset_type, r.name, r.state,
    r.capacity, COALESCE(r.permission_labels, '{{}}'), r.metadata_created,
    r.metadata_modified, clock_timestamp(), r.title_sort,
    r.organization, r.license_id, r.groups, r.tags, r.res_format,
    {_VECTOR_SQL},
    r.folded, r.doc, r.data_dict, r.validated_data_dict
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    index_id text, id text, site_id text, entity_type text, dataset_type text, name text,
    state text, capacity text, permission_labels text[], metadata_created timestamptz,
    metadata_modified timestamptz, title_sort text, organization text[], license_id text[],
    groups text[], tags text[], res_format text[], text_a text, text_b text, text_d text,
    text_u text,
    folded jsonb, doc jsonb, data_dict text, validated_data_dict text)
ON CONFLICT (index_id) DO UPDATE SET
    id = EXCLUDED.id, site_id = EXCLUDED.site_id, entity_type = EXCLUDED.entity_type,
    dataset_type = EXCLUDED.dataset_type, name = EXCLUDED.name, state = EXCLUDED.state,
    capacity = EXCLUDED.capacity, permission_labels = EXCLUDED.permission_labels,
    metadata_created = EXCLUDED.metadata_created,
    metadata_modified = EXCLUDED.metadata_modified, indexed_ts = EXCLUDED.indexed_ts,
    title_sort = EXCLUDED.title_sort, organization = EXCLUDED.organization,
    license_id = EXCLUDED.license_id, groups = EXCLUDED.groups, tags = EXCLUDED.tags,
    res_format = EXCLUDED.res_format, search_vector = EXCLUDED.search_vector,
    folded = EXCLUDED.folded, doc = EXCLUDED.doc, data_dict = EXCLUDED.data_dict,
    validated_data_dict = EXCLUDED.validated_data_dict
"""

T = TypeVar("T")

_engines: dict[tuple[int, str], Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> Engine:
    """One autocommit engine per URL and per process (pools must not cross a fork)."""
    key = (os.getpid(), url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
            _engines[key] = engine
        return engine


def _is_missing_table(error: sa.exc.DBAPIError) -> bool:
    return getattr(error.orig, "pgcode", None) == "42P01"


def _is_missing_column(error: sa.exc.DBAPIError) -> bool:
    return getattr(error.orig, "pgcode", None) == "42703"


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _scalar(value: Any) -> str | None:
    if value is None or isinstance(value, (list, dict)):
        return None
    return str(value)


def solr_date(value: Any) -> Any:
    """Solr's canonical form of a date value: UTC, milliseconds, trailing ``Z``."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    millis = moment.microsecond // 1000
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _is_date_key(key: str) -> bool:
    return key.endswith("_date") or key in ("metadata_created", "metadata_modified")


def clean_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the values Solr never stores (``None``, empty strings and empty items)."""
    cleaned: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, (list, tuple, set)):
            items = [v for v in value if v is not None and v != ""]
            if items:
                cleaned[str(key)] = items
        elif value is not None and value != "":
            cleaned[str(key)] = value
    for key, value in cleaned.items():
        if _is_date_key(key):
            cleaned[key] = (
                [solr_date(v) for v in value] if isinstance(value, list) else solr_date(value)
            )
    return cleaned


def index_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The table row for one document as CKAN sends it to Solr."""
    if not doc.get("index_id") and not doc.get("id"):
        raise ValueError("A search document needs an 'index_id' or an 'id'.")
    precise = {key: doc.get(key) for key in ("metadata_created", "metadata_modified")}
    cleaned = clean_document(doc)
    # Round-trip through JSON so plugin-added values (dates, decimals) become plain JSON.
    cleaned = json.loads(json.dumps(cleaned, default=str))
    stored = {key: cleaned.pop(key, None) for key in STORED_TEXT_FIELDS}
    text_a, text_b, text_d, text_u = weighted_text(cleaned)
    title = cleaned.get("title_string") or cleaned.get("title")
    labels = list(flatten(cleaned.get("permission_labels")))
    return {
        "index_id": str(cleaned.get("index_id") or cleaned["id"]),
        "id": str(cleaned.get("id") or cleaned["index_id"]),
        "site_id": _scalar(cleaned.get("site_id")),
        "entity_type": _scalar(cleaned.get("entity_type")),
        "dataset_type": _scalar(cleaned.get("dataset_type")),
        "name": _scalar(cleaned.get("name")),
        "state": _scalar(cleaned.get("state")),
        "capacity": _scalar(cleaned.get("capacity")),
        "permission_labels": labels,
        # Columns keep full precision so that sorting on creation order stays exact.
        "metadata_created": _timestamp(precise["metadata_created"]),
        "metadata_modified": _timestamp(precise["metadata_modified"]),
        "title_sort": fold(str(title)).lower().strip() if title else None,
        **{column: list(flatten(cleaned.get(column))) for column in FACET_COLUMNS},
        "text_a": text_a,
        "text_b": text_b,
        "text_d": text_d,
        "text_u": text_u,
        "folded": folded_text_fields(cleaned),
        "doc": cleaned,
        "data_dict": _scalar(stored["data_dict"]),
        "validated_data_dict": _scalar(stored["validated_data_dict"]),
    }


class IndexTable:
    """Operations on the index table through an autocommit engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    # --- schema -------------------------------------------------------------------------
    def create(self) -> None:
        with self.engine.connect() as conn, conn.begin():
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            for statement in _DDL:
                conn.execute(sa.text(statement))
        log.info("Search index table %s is ready", TABLE)

    def version(self) -> str | None:
        """The schema marker of the table, or ``None`` when the table does not exist."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT obj_description(to_regclass(:t), 'pg_class'), to_regclass(:t)"
                ),
                {"t": TABLE},
            ).one()
        if row[1] is None:
            return None
        return row[0] or ""

    def ensure(self) -> None:
        """Create the table, or rebuild it when an older layout is found (empty: reindex)."""
        current = self.version()
        if current == SCHEMA_VERSION:
            return
        if current is not None:
            log.warning(
                "Search index table %s has layout %r, expected %r: recreating it; "
                "run `ckan search-index rebuild`", TABLE, current, SCHEMA_VERSION,
            )
            with self.engine.connect() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
        self.create()

    def _run(self, work: Callable[[Connection], T]) -> T:
        try:
            with self.engine.connect() as conn:
                return work(conn)
        except sa.exc.ProgrammingError as error:
            if not (_is_missing_table(error) or _is_missing_column(error)):
                raise
        self.ensure()
        with self.engine.connect() as conn:
            return work(conn)

    # --- writes -------------------------------------------------------------------------
    def upsert(self, docs: Iterable[Mapping[str, Any]]) -> int:
        rows = [index_row(doc) for doc in docs]
        if not rows:
            return 0
        # One statement per document identity: a batch holding the same index_id twice
        # would make ON CONFLICT fail, so keep the last version, as Solr would.
        unique = list({row["index_id"]: row for row in rows}.values())
        payload = json.dumps(unique)
        self._run(lambda conn: conn.execute(sa.text(_UPSERT), {"rows": payload}))
        return len(unique)

    def delete_where(self, condition: str, params: Mapping[str, Any]) -> int:
        sql = sa.text(f"DELETE FROM {TABLE} WHERE {condition}")
        return self._run(lambda conn: conn.execute(sql, dict(params)).rowcount)

    def delete_ids(self, ids: Sequence[str]) -> int:
        sql = sa.text(f"DELETE FROM {TABLE} WHERE index_id = ANY(:ids) OR id = ANY(:ids)")
        return self._run(lambda conn: conn.execute(sql, {"ids": list(ids)}).rowcount)

    # --- reads --------------------------------------------------------------------------
    def select(self, sql: str, params: Mapping[str, Any],
               prefer_indexes: bool = False) -> list[sa.Row]:
        """Run a query; ``prefer_indexes`` steers the planner to the full-text GIN index.

        PostgreSQL's cost model ignores the decompression of each ``tsvector`` in a
        sequential scan, so it picks one even when the index reads a tenth of the rows.
        """
        statement = sa.text(sql)

        def work(conn: Connection) -> list[sa.Row]:
            if not prefer_indexes:
                return list(conn.execute(statement, dict(params)))
            conn.exec_driver_sql("SET enable_seqscan = off")
            try:
                return list(conn.execute(statement, dict(params)))
            finally:
                conn.exec_driver_sql("RESET enable_seqscan")

        return self._run(work)
