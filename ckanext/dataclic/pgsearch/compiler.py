"""Compile a parsed Lucene query into a parameterised SQL condition over the index table.

User text only ever reaches PostgreSQL as bound parameters; the SQL text is assembled from
fixed fragments and generated parameter names. Hot fields (state, capacity, site_id,
permission labels, dates…) map to dedicated columns, every other field to the JSONB document
(scalar or array values alike).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from dateutil.relativedelta import relativedelta

from ckanext.dataclic.pgsearch import lucene
from ckanext.dataclic.pgsearch.text import fold, has_word, is_text_field

# Field -> (column, kind); kind is "text", "array" or "date".
COLUMNS: dict[str, tuple[str, str]] = {
    "index_id": ("index_id", "text"),
    "id": ("id", "text"),
    "site_id": ("site_id", "text"),
    "name": ("name", "text"),
    "state": ("state", "text"),
    "capacity": ("capacity", "text"),
    "dataset_type": ("dataset_type", "text"),
    "entity_type": ("entity_type", "text"),
    "permission_labels": ("permission_labels", "array"),
    "metadata_created": ("metadata_created", "date"),
    "metadata_modified": ("metadata_modified", "date"),
    "indexed_ts": ("indexed_ts", "date"),
    # Facet fields, kept as arrays whatever shape a plugin gives them.
    "organization": ("organization", "array"),
    "license_id": ("license_id", "array"),
    "groups": ("groups", "array"),
    "tags": ("tags", "array"),
    "res_format": ("res_format", "array"),
}
FACET_COLUMNS = ("organization", "license_id", "groups", "tags", "res_format")

# Solr's schema copies ``name`` and ``title`` into 2-10 character n-gram fields (lower
# case) for autocompletion: a word matches when it is a 2-10 character substring of the
# lower-cased value. Field -> SQL expression of that value.
NGRAM_FIELDS: dict[str, str] = {
    "name_ngram": "lower(COALESCE(name, ''))",
    "title_ngram": "lower(COALESCE(doc ->> 'title', ''))",
}
NGRAM_MIN, NGRAM_MAX = 2, 10

TEXT_CONFIGS = ("french", "english", "simple")
_ITEM_C = 'item COLLATE "C"'

_NUMERIC = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")
_DATE_MATH = re.compile(
    r"^(?P<anchor>NOW|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?Z?)"
    r"(?P<math>(?:[+-]\d+[A-Z]+|/[A-Z]+)*)$"
)
_MATH_STEP = re.compile(r"([+-])(\d+)([A-Z]+)|/([A-Z]+)")
_UNITS = {
    "YEAR": "years", "YEARS": "years", "MONTH": "months", "MONTHS": "months",
    "DAY": "days", "DAYS": "days", "DATE": "days", "HOUR": "hours", "HOURS": "hours",
    "MINUTE": "minutes", "MINUTES": "minutes", "SECOND": "seconds", "SECONDS": "seconds",
    "MILLI": "microseconds", "MILLIS": "microseconds", "MILLISECOND": "microseconds",
    "MILLISECONDS": "microseconds",
}


def is_date_field(name: str) -> bool:
    return name.endswith("_date") or COLUMNS.get(name, ("", ""))[1] == "date"


def parse_solr_date(value: str, now: datetime | None = None) -> datetime:
    """Parse a Solr date or date-math expression (``NOW-7DAYS/DAY``, ``2020-01-01T00:00:00Z``)."""
    match = _DATE_MATH.match(value.strip().upper())
    if not match:
        raise lucene.QuerySyntaxError(f"Invalid date '{value}'.")
    anchor = match.group("anchor")
    if anchor == "NOW":
        moment = now or datetime.now(timezone.utc)
    else:
        try:
            moment = datetime.fromisoformat(anchor.replace("Z", "+00:00"))
        except ValueError as error:
            raise lucene.QuerySyntaxError(f"Invalid date '{value}'.") from error
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    for sign, amount, unit, rounding in _MATH_STEP.findall(match.group("math")):
        if rounding:
            moment = _round_down(moment, rounding, value)
            continue
        key = _UNITS.get(unit)
        if key is None:
            raise lucene.QuerySyntaxError(f"Invalid date unit '{unit}' in '{value}'.")
        number = int(amount) * (1000 if key == "microseconds" else 1)
        delta = relativedelta(**{key: number})
        moment = moment + delta if sign == "+" else moment - delta
    return moment


def _round_down(moment: datetime, unit: str, value: str) -> datetime:
    unit = unit.rstrip("S") if unit not in ("MILLIS",) else unit
    if unit in ("YEAR",):
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "MONTH":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit in ("DAY", "DATE"):
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "HOUR":
        return moment.replace(minute=0, second=0, microsecond=0)
    if unit == "MINUTE":
        return moment.replace(second=0, microsecond=0)
    if unit == "SECOND":
        return moment.replace(microsecond=0)
    if unit in ("MILLI", "MILLIS"):
        return moment - timedelta(microseconds=moment.microsecond % 1000)
    raise lucene.QuerySyntaxError(f"Invalid date rounding '/{unit}' in '{value}'.")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def wildcard_to_like(pattern: str) -> str:
    return "".join(
        "%" if ch == "*" else "_" if ch == "?" else _like_escape(ch) for ch in pattern
    )


def _json_candidates(value: str) -> list[Any]:
    """Values a Solr string comparison would match in a JSON document."""
    candidates: list[Any] = [value]
    if value in ("true", "false"):
        candidates.append(value == "true")
    elif _NUMERIC.match(value):
        number = float(value)
        candidates.append(int(number) if number.is_integer() and "." not in value else number)
    return candidates


@dataclass
class SqlCondition:
    """A compiled condition: SQL text, its bound parameters and its ranking query if any."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    rank_sql: str | None = None


class QueryCompiler:
    """Turns syntax trees into SQL, accumulating bound parameters under unique names."""

    def __init__(self, prefix: str = "p") -> None:
        self.params: dict[str, Any] = {}
        self.rank_parts: list[str] = []
        self._prefix = prefix
        self._count = 0
        self._collect_rank = False

    def bind(self, value: Any) -> str:
        name = f"{self._prefix}{self._count}"
        self._count += 1
        self.params[name] = value
        return f":{name}"

    # --- entry points -------------------------------------------------------------------
    def compile(self, node: lucene.Node, rank: bool = False) -> str:
        self._collect_rank = rank
        sql = self._node(node)
        self._collect_rank = False
        return "TRUE" if sql is None else sql

    def rank_expression(self) -> str | None:
        if not self.rank_parts:
            return None
        return "ts_rank(search_vector, " + " || ".join(self.rank_parts) + ")"

    # --- nodes --------------------------------------------------------------------------
    def _node(self, node: lucene.Node) -> str | None:
        if isinstance(node, lucene.MatchAll):
            return "TRUE"
        if isinstance(node, lucene.Bool):
            return self._bool(node)
        if isinstance(node, lucene.Term):
            return self._term(node)
        if isinstance(node, lucene.Range):
            return self._range(node)
        if isinstance(node, lucene.Exists):
            return self._exists(node.field)
        raise lucene.QuerySyntaxError("Unsupported query construct.")

    def _bool(self, node: lucene.Bool) -> str | None:
        musts: list[str] = []
        shoulds: list[str] = []
        nots: list[str] = []
        collect = self._collect_rank
        for occur, child in node.clauses:
            self._collect_rank = collect and occur is not lucene.Occur.MUST_NOT
            sql = self._node(child)
            if sql is None:
                continue  # a clause with no searchable word (e.g. "--"), as Solr drops it
            {lucene.Occur.MUST: musts, lucene.Occur.SHOULD: shoulds,
             lucene.Occur.MUST_NOT: nots}[occur].append(sql)
        self._collect_rank = collect
        if not (musts or shoulds or nots):
            return None
        parts = list(musts)
        if shoulds and node.minimum_should_match > 1:
            needed = min(node.minimum_should_match, len(shoulds))
            if needed >= len(shoulds):
                parts.extend(shoulds)
            else:
                counted = " + ".join(f"(COALESCE({s}, FALSE))::int" for s in shoulds)
                parts.append("(" + " OR ".join(shoulds) + ")")
                parts.append(f"({counted}) >= {int(needed)}")
        elif shoulds and not musts:
            parts.append("(" + " OR ".join(shoulds) + ")")
        parts.extend(f"NOT COALESCE({n}, FALSE)" for n in nots)
        return "(" + " AND ".join(parts) + ")"

    def _term(self, node: lucene.Term) -> str | None:
        name = node.field
        if name is None or name == "text":
            return self._fulltext(node, "search_vector", rank=True)
        if name in NGRAM_FIELDS:
            return self._ngram(node, NGRAM_FIELDS[name])
        if is_text_field(name):
            vector = " || ".join(
                f"to_tsvector('{cfg}', COALESCE(folded ->> {self.bind(name)}, ''))"
                for cfg in TEXT_CONFIGS
            )
            return self._fulltext(node, f"({vector})", rank=False)
        if name in COLUMNS:
            return self._column_term(node, *COLUMNS[name])
        return self._doc_term(node, name)

    def _tsquery(self, node: lucene.Term) -> str | None:
        text = fold(node.text)
        if not has_word(text):
            return None
        if node.kind == "prefix":
            word = " ".join(re.findall(r"\w+", text.lower()))
            param = self.bind(word)
            return f"to_tsquery('simple', quote_literal({param}) || ':*')"
        if node.kind == "wildcard":
            return None
        function = "phraseto_tsquery" if node.kind == "phrase" else "plainto_tsquery"
        param = self.bind(text)
        return "(" + " || ".join(f"{function}('{cfg}', {param})" for cfg in TEXT_CONFIGS) + ")"

    def _fulltext(self, node: lucene.Term, vector: str, rank: bool) -> str | None:
        if node.kind == "wildcard":
            pattern = fold(node.text).lower()
            if not has_word(pattern):
                return None
            return (
                f"EXISTS (SELECT 1 FROM unnest(tsvector_to_array({vector})) AS lexeme "
                f"WHERE lexeme LIKE {self.bind(wildcard_to_like(pattern))})"
            )
        tsquery = self._tsquery(node)
        if tsquery is None:
            return None
        if rank and self._collect_rank:
            self.rank_parts.append(tsquery)
        return f"{vector} @@ {tsquery}"

    def _ngram(self, node: lucene.Term, value: str) -> str:
        """Substring match, as Solr's n-gram fields answer (query words split on white
        space and lower-cased; each must be one of the value's 2-10 character grams)."""
        text = node.text.lower()
        if node.kind in ("prefix", "wildcard"):
            pattern = wildcard_to_like(text + ("*" if node.kind == "prefix" else ""))
            return f"{value} LIKE {self.bind('%' + pattern + '%')}"
        words = text.split()
        if not words or any(not NGRAM_MIN <= len(w) <= NGRAM_MAX for w in words):
            return "FALSE"
        return "(" + " AND ".join(
            f"strpos({value}, {self.bind(word)}) > 0" for word in words) + ")"

    def _column_term(self, node: lucene.Term, column: str, kind: str) -> str:
        if kind == "date":
            if node.kind in ("prefix", "wildcard"):
                return f"{column}::text LIKE {self.bind(wildcard_to_like(node.text + '*'))}"
            moment = parse_solr_date(node.text)
            return f"{column} = {self.bind(moment)}"
        if node.kind in ("prefix", "wildcard"):
            pattern = wildcard_to_like(node.text + ("*" if node.kind == "prefix" else ""))
            if kind == "array":
                return (
                    f"EXISTS (SELECT 1 FROM unnest({column}) AS item "
                    f"WHERE item LIKE {self.bind(pattern)})"
                )
            return f"{column} LIKE {self.bind(pattern)}"
        if kind == "array":
            return f"{column} @> ARRAY[CAST({self.bind(node.text)} AS text)]"
        return f"{column} = {self.bind(node.text)}"

    def _elements(self, name: str, text: bool) -> str:
        field_param = self.bind(name)
        function = "jsonb_array_elements_text" if text else "jsonb_array_elements"
        return (
            f"{function}(CASE WHEN jsonb_typeof(doc -> {field_param}) = 'array' "
            f"THEN doc -> {field_param} ELSE jsonb_build_array(doc -> {field_param}) END)"
        )

    def _doc_term(self, node: lucene.Term, name: str) -> str:
        if node.kind in ("prefix", "wildcard"):
            pattern = wildcard_to_like(node.text + ("*" if node.kind == "prefix" else ""))
            return (
                f"EXISTS (SELECT 1 FROM {self._elements(name, text=True)} AS item "
                f"WHERE item LIKE {self.bind(pattern)})"
            )
        options = []
        for candidate in _json_candidates(node.text):
            options.append(f"doc @> CAST({self.bind(json.dumps({name: candidate}))} AS jsonb)")
            options.append(
                f"doc @> CAST({self.bind(json.dumps({name: [candidate]}))} AS jsonb)"
            )
        return "(" + " OR ".join(options) + ")"

    def _exists(self, name: str) -> str:
        if name in COLUMNS:
            column, kind = COLUMNS[name]
            if kind == "array":
                return f"cardinality({column}) > 0"
            return f"{column} IS NOT NULL"
        param = self.bind(name)
        return (
            f"(doc ? {param} AND doc -> {param} NOT IN "
            "('null'::jsonb, '[]'::jsonb, '\"\"'::jsonb))"
        )

    def _range(self, node: lucene.Range) -> str:
        name = node.field
        assert name is not None
        if is_date_field(name):
            low = parse_solr_date(node.low) if node.low is not None else None
            high = parse_solr_date(node.high) if node.high is not None else None
            if name in COLUMNS:
                return self._bounds(COLUMNS[name][0], low, high, node)
            value = "CAST(item AS timestamptz)"
            guard = "item ~ '^\\d{4}-\\d{2}-\\d{2}'"
            return (
                f"EXISTS (SELECT 1 FROM {self._elements(name, text=True)} AS item "
                f"WHERE {guard} AND {self._bounds(value, low, high, node)})"
            )
        numeric = all(b is None or _NUMERIC.match(b) for b in (node.low, node.high))
        if name in COLUMNS:
            column, kind = COLUMNS[name]
            target = column + ' COLLATE "C"'
            if kind == "array":
                return (
                    f"EXISTS (SELECT 1 FROM unnest({column}) AS item WHERE "
                    f"{self._bounds(_ITEM_C, node.low, node.high, node)})"
                )
            return self._bounds(target, node.low, node.high, node)
        if numeric:
            low = float(node.low) if node.low is not None else None
            high = float(node.high) if node.high is not None else None
            value = (
                "(CASE WHEN jsonb_typeof(item) = 'number' THEN CAST(item::text AS float8) "
                "WHEN jsonb_typeof(item) = 'string' AND (item #>> '{}') ~ "
                "'^\\s*-?\\d+(\\.\\d+)?\\s*$' THEN CAST(item #>> '{}' AS float8) END)"
            )
            return (
                f"EXISTS (SELECT 1 FROM {self._elements(name, text=False)} AS item "
                f"WHERE {self._bounds(value, low, high, node)})"
            )
        return (
            f"EXISTS (SELECT 1 FROM {self._elements(name, text=True)} AS item WHERE "
            f"{self._bounds(_ITEM_C, node.low, node.high, node)})"
        )

    def _bounds(self, value: str, low: Any, high: Any, node: lucene.Range) -> str:
        parts = []
        if low is not None:
            parts.append(f"{value} {'>=' if node.include_low else '>'} {self.bind(low)}")
        if high is not None:
            parts.append(f"{value} {'<=' if node.include_high else '<'} {self.bind(high)}")
        if not parts:
            return f"{value} IS NOT NULL"
        return "(" + " AND ".join(parts) + ")"
