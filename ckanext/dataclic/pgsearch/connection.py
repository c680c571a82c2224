"""A pysolr-compatible connection answering CKAN's Solr calls from PostgreSQL.

CKAN 2.12 reaches Solr only through ``make_connection()`` (imported by name into
``ckan.lib.search``, ``.common``, ``.index`` and ``.query``) and checks the Solr schema with
``check_solr_schema_version()`` at start-up. :func:`install` swaps both for the functions of
this module; the rest of CKAN's search code (indexing, permission labels, facets' titles…)
runs unchanged.

One module past 400 lines on purpose: it is the one pysolr-shaped surface CKAN calls (add,
delete, commit, search with its parameters, facets, sort, minimum match); the SQL is built by
:mod:`.compiler` and the query parsed by :mod:`.lucene`.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pysolr
import sqlalchemy as sa

from ckanext.dataclic.pgsearch import lucene, spatial
from ckanext.dataclic.pgsearch.compiler import COLUMNS, QueryCompiler
from ckanext.dataclic.pgsearch.store import TABLE, IndexTable

log = logging.getLogger(__name__)

URL_OPTION = "ckanext.dataclic.pgsearch.url"
_DEFAULT_FACET_LIMIT = 50


# Control characters PostgreSQL refuses (NUL) or that no catalogue text holds; tab, line
# feed and carriage return are ordinary white space.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _translate(message: str) -> str:
    """``toolkit._`` within a request (the portal's language), the English text outside."""
    try:
        from ckan.plugins import toolkit as tk

        return tk._(message)
    except (RuntimeError, TypeError, AttributeError):
        return message


def _search_error(message: str) -> Exception:
    from ckan.lib.search.common import SearchError

    return SearchError(message)


def _sort_error(detail: str) -> Exception:
    from ckan.lib.search.common import SearchQueryError

    return SearchQueryError(f'Invalid "sort" parameter: {detail}')


def _refuse_control_characters(q: Any, params: Mapping[str, Any]) -> None:
    """A search parameter holding a control character is refused before it reaches
    PostgreSQL (which rejects NUL with an error CKAN would turn into a 500)."""
    from ckan.lib.search.common import SearchQueryError

    for name, value in [("q", q), *params.items()]:
        for item in _as_list(value):
            if isinstance(item, str) and _CONTROL.search(item):
                message = _translate("Invalid search: the parameter {name} holds a control "
                                     "character (such as NUL), which is not allowed")
                raise SearchQueryError(message.format(name=name[:40]))


def _unavailable(error: Exception) -> Exception:
    log.error("Search index database is unreachable: %s", error)
    return _search_error(_translate(
        "The search service is unavailable at the moment; try again in a few minutes"))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _as_int(name: str, value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _search_error(f"Invalid search parameter '{name}': an integer is expected.")


def _field_list(fl: Any) -> list[str]:
    names: list[str] = []
    for item in _as_list(fl) or ["*"]:
        names.extend(part for part in str(item).replace(",", " ").split() if part)
    return names or ["*"]


class PgSearchConnection:
    """Implements the subset of :class:`pysolr.Solr` CKAN uses."""

    def __init__(self, url: str, decode_dates: bool = True) -> None:
        self.url = url
        self.decode_dates = decode_dates
        self.table = IndexTable(url)

    def __repr__(self) -> str:
        return f"<PgSearchConnection table={TABLE}>"

    # --- writes -------------------------------------------------------------------------
    def add(self, docs: Iterable[Mapping[str, Any]], commit: bool | None = None,
            **_ignored: Any) -> str:
        try:
            self.table.upsert(docs)
        except (ValueError, sa.exc.SQLAlchemyError) as error:
            raise pysolr.SolrError(f"Could not index documents: {error}") from error
        return ""

    def delete(self, id: Any = None, q: str | None = None, commit: bool | None = None,
               **_ignored: Any) -> str:
        if id is None and q is None:
            raise ValueError('You must specify "id" or "q".')
        try:
            if id is not None:
                self.table.delete_ids([str(i) for i in _as_list(id)])
            if q is not None:
                compiler = QueryCompiler()
                condition = compiler.compile(lucene.parse(q, default_and=True))
                self.table.delete_where(condition, compiler.params)
        except lucene.QuerySyntaxError as error:
            raise pysolr.SolrError(f"Invalid delete query: {error}") from error
        except sa.exc.SQLAlchemyError as error:
            raise pysolr.SolrError(f"Could not delete documents: {error}") from error
        return ""

    def commit(self, **_ignored: Any) -> str:
        """Writes are committed as they happen."""
        return ""

    def optimize(self, **_ignored: Any) -> str:
        return ""

    def ping(self, **_ignored: Any) -> str:
        self.table.select("SELECT 1", {})
        return '{"status": "OK"}'

    # --- search -------------------------------------------------------------------------
    def search(self, q: str | None = None, search_handler: str | None = None,
               **params: Any) -> pysolr.Results:
        _refuse_control_characters(q, params)
        try:
            return self._search(q, params)
        except lucene.QuerySyntaxError as error:
            raise _search_error(f"Invalid search query: {error}") from error
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            raise _unavailable(error) from error
        except sa.exc.DBAPIError as error:
            log.warning("Search query failed in PostgreSQL: %s", error)
            detail = str(getattr(error, "orig", error)).strip().splitlines()[0]
            raise _search_error(f"Invalid search query: {detail}") from error

    def _search(self, q: str | None, params: dict[str, Any]) -> pysolr.Results:
        compiler = QueryCompiler()
        default_and = str(params.get("q.op", "AND")).upper() != "OR"
        q_text = q if q not in (None, "", '""', "''") else "*:*"
        q_node = lucene.parse(str(q_text), default_and=default_and)
        if str(params.get("defType", "lucene")) in ("dismax", "edismax"):
            q_node = self._apply_minimum_match(q_node, params.get("mm"))
        conditions = [compiler.compile(q_node, rank=True)]
        for fq in _as_list(params.get("fq")):
            if fq is None or not str(fq).strip():
                continue
            function_filter = spatial.filter_sql(str(fq), compiler)  # {!frange}: ext_bbox
            conditions.append(function_filter or compiler.compile(
                lucene.parse(str(fq), default_and=default_and)))
        where = " AND ".join(f"({c})" for c in conditions)
        rank = compiler.rank_expression() or "1.0"
        boost = spatial.boost_sql(params, compiler)  # bf: ext_bbox's overlap ordering
        if boost:
            rank = f"({rank} + {boost})"
        text_search = bool(compiler.rank_parts)

        rows = _as_int("rows", params.get("rows"), 10)
        start = _as_int("start", params.get("start"), 0)
        if rows < 0 or start < 0:
            raise _search_error("Invalid search parameters: 'rows' and 'start' must be >= 0.")
        order_keys = self._order_keys(params.get("sort"), compiler)
        fields = _field_list(params.get("fl"))
        facet_fields = self._facet_fields(params)

        page, hits, facets = self._match(
            where, rank, order_keys, rows, start, facet_fields, compiler, params, text_search
        )
        docs: list[dict[str, Any]] = []
        if page:
            # Documents of the page only: the wide JSONB and stored dicts are never sorted.
            wants_stored = any(f in ("*", "data_dict", "validated_data_dict") for f in fields)
            stored = "data_dict, validated_data_dict" if wants_stored else "NULL, NULL"
            doc_sql = (
                f"SELECT index_id, doc, {stored}, indexed_ts FROM {TABLE} "
                "WHERE index_id = ANY(:_ids)"
            )
            found = {
                row[0]: row
                for row in self.table.select(doc_sql, {"_ids": [r[0] for r in page]})
            }
            docs = [
                self._document(found[index_id], score, fields)
                for index_id, score in page
                if index_id in found
            ]

        response = {
            "responseHeader": {"status": 0, "QTime": 0, "params": {"q": q_text}},
            "response": {"numFound": hits, "start": start, "docs": docs},
            "facet_counts": {
                "facet_queries": {}, "facet_fields": facets, "facet_ranges": {},
                "facet_intervals": {}, "facet_heatmaps": {},
            },
        }
        return pysolr.Results(response)

    @staticmethod
    def _apply_minimum_match(node: lucene.Node, mm: Any) -> lucene.Node:
        """Dismax: plain words are optional clauses, ``mm`` of them must match."""
        if not isinstance(node, lucene.Bool) or not node.implicit_only:
            return node
        count = len(node.clauses)
        clauses = tuple((lucene.Occur.SHOULD, child) for _, child in node.clauses)
        needed = lucene.minimum_match(str(mm) if mm is not None else None, count)
        return lucene.Bool(clauses, minimum_should_match=max(needed, 1), implicit_only=True)

    def _order_keys(self, sort: Any, compiler: QueryCompiler) -> list[tuple[str, str]]:
        """``(expression, direction)`` pairs; missing values sort last, as in Solr."""
        keys: list[tuple[str, str]] = []
        for part in str(sort or "score desc").split(","):
            words = part.split()
            if not words:
                continue
            if len(words) != 2 or words[1].lower() not in ("asc", "desc"):
                raise _sort_error(f"'{part.strip()}' (expected 'field asc' or 'field desc')")
            name, direction = words[0], words[1].upper()
            if name == "score":
                keys.append(("score", direction))
            elif name in ("title_string", "title"):
                keys.append(("title_sort", direction))
            elif name in COLUMNS and COLUMNS[name][1] != "array":
                keys.append((COLUMNS[name][0], direction))
            elif lucene.FIELD_NAME.match(name) and name != "*":
                keys.append((f"doc -> {compiler.bind(name)}", direction))
            else:
                raise _sort_error(f"cannot sort on '{name}'")
        keys.append(("indexed_ts", "ASC"))
        return keys

    def _document(self, row: sa.Row, score: float, fields: list[str]) -> dict[str, Any]:
        index_id, doc, data_dict, validated, indexed_ts = row
        full = dict(doc)
        if data_dict is not None:
            full["data_dict"] = data_dict
        if validated is not None:
            full["validated_data_dict"] = validated
        full.setdefault("index_id", index_id)
        full["indexed_ts"] = indexed_ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if "*" in fields:
            result = full
            if "score" in fields:
                result["score"] = float(score)
        else:
            result = {}
            for name in fields:
                if name == "score":
                    result["score"] = float(score)
                elif name in full:
                    result[name] = full[name]
        if self.decode_dates:
            from ckan.lib.search.common import solr_datetime_decoder

            result = solr_datetime_decoder(result)
        return result

    @staticmethod
    def _facet_fields(params: Mapping[str, Any]) -> list[str]:
        if str(params.get("facet", "false")).lower() not in ("true", "on", "1"):
            return []
        names: list[str] = []
        for item in _as_list(params.get("facet.field")):
            name = lucene.strip_local_params(str(item)).strip()
            if name and name not in names:
                if not lucene.FIELD_NAME.match(name) or name == "*":
                    raise lucene.QuerySyntaxError(f"Invalid facet field '{name}'.")
                names.append(name)
        return names

    def _match(self, where: str, rank: str, order_keys: list[tuple[str, str]], rows: int,
               start: int, fields: list[str], compiler: QueryCompiler,
               options: Mapping[str, Any], text_search: bool
               ) -> tuple[list[tuple[str, float]], int, dict[str, list[Any]]]:
        """One statement: the matching set is computed once (match, rank, sort keys, facet
        columns), then paged, counted and faceted."""
        bound = dict(compiler.params)
        bound.update({"_rows": rows, "_start": start})
        needed: set[str] = {"index_id"}
        facet_values: list[tuple[str, str]] = []
        for position, name in enumerate(fields):
            key = f"_f{position}"
            bound[key] = name
            column, kind = COLUMNS.get(name, ("", ""))
            # Set-returning functions in the select list (ProjectSet) cost far less per
            # row than LATERAL joins.
            if kind == "array":
                values = f"unnest({column})"
                needed.add(column)
            elif kind == "text":
                values = column
                needed.add(column)
            else:
                values = (
                    f"jsonb_array_elements_text(CASE WHEN jsonb_typeof(doc -> :{key}) = "
                    f"'array' THEN doc -> :{key} ELSE jsonb_build_array(doc -> :{key}) END)"
                )
                needed.add("doc")
            facet_values.append((key, values))
        sort_columns = [
            f"{expr} AS _s{i}" for i, (expr, _) in enumerate(order_keys) if expr != "score"
        ]
        order = ", ".join(
            f"{'score' if expr == 'score' else f'_s{i}'} {direction} NULLS LAST"
            for i, (expr, direction) in enumerate(order_keys)
        )
        matched = ", ".join([*sorted(needed), f"{rank} AS score", *sort_columns])
        # Rows: (0, count), (1, page entry with its position), (2, facet value).
        parts = ["SELECT 0, NULL::text, NULL::text, count(*)::float8, 0::bigint FROM m"]
        if rows > 0:
            parts.append(
                "SELECT 1, NULL, index_id, score::float8, pos FROM ("
                f"SELECT index_id, score, row_number() OVER (ORDER BY {order}) AS pos FROM m "
                f"ORDER BY {order} LIMIT :_rows OFFSET :_start) AS page"
            )
        for key, values in facet_values:
            parts.append(
                f"SELECT 2, CAST(:{key} AS text), e, count(*)::float8, 0 FROM "
                f"(SELECT {values} AS e FROM m) AS f{key} "
                "WHERE e IS NOT NULL AND e <> '' GROUP BY e"
            )
        sql = (
            f"WITH m AS MATERIALIZED (SELECT {matched} FROM {TABLE} WHERE {where}) "
            + " UNION ALL ".join(f"({part})" for part in parts)
        )
        result = self.table.select(sql, bound, text_search)
        hits = 0
        page: list[tuple[int, str, float]] = []
        counts: dict[str, list[tuple[str, int]]] = {name: [] for name in fields}
        for kind, field_name, value, number, position in result:
            if kind == 0:
                hits = int(number)
            elif kind == 1:
                page.append((position, value, number))
            else:
                counts[field_name].append((value, int(number)))
        page.sort()
        facets: dict[str, list[Any]] = {}
        default_limit = _as_int("facet.limit", options.get("facet.limit"), _DEFAULT_FACET_LIMIT)
        default_min = _as_int("facet.mincount", options.get("facet.mincount"), 0)
        for name in fields:
            limit = _as_int("facet.limit", options.get(f"f.{name}.facet.limit"), default_limit)
            mincount = _as_int(
                "facet.mincount", options.get(f"f.{name}.facet.mincount"), default_min
            )
            items = sorted(counts[name], key=lambda item: (-item[1], item[0]))
            items = [item for item in items if item[1] >= max(mincount, 1)]
            if limit >= 0:
                items = items[:limit]
            flat: list[Any] = []
            for value, count in items:
                flat.extend((value, count))
            facets[name] = flat
        return [(index_id, score) for _, index_id, score in page], hits, facets


def configured_url() -> str:
    from ckan.common import config

    # The declaration is absent while the plugin is unloaded (as during a test session):
    # read the key only when set, to avoid "option not declared" warnings.
    url = config[URL_OPTION] if URL_OPTION in config else ""  # noqa: SIM401
    return str(url or config.get("sqlalchemy.url"))


def make_connection(decode_dates: bool = True) -> PgSearchConnection:
    """Drop-in replacement for :func:`ckan.lib.search.common.make_connection`."""
    return PgSearchConnection(configured_url(), decode_dates=decode_dates)


def check_index_table(schema_file: str | None = None) -> bool:
    """Replacement for ``check_solr_schema_version``: make sure the index table is usable."""
    try:
        IndexTable(configured_url()).ensure()
    except sa.exc.OperationalError as error:
        log.warning("Search index database is not reachable: %s", error)
        return False
    return True


def install() -> None:
    """Route CKAN's Solr calls to PostgreSQL for the rest of the process (idempotent)."""
    from ckan.lib import search
    from ckan.lib.search import common, index, query

    for module in (search, common, index, query):
        module.make_connection = make_connection  # type: ignore[attr-defined]
    search.check_solr_schema_version = check_index_table  # type: ignore[assignment]


def is_installed() -> bool:
    from ckan.lib.search import query

    return query.make_connection is make_connection  # type: ignore[attr-defined]
