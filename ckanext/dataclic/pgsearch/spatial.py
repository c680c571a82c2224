"""Solr function queries (``{!frange}`` filters and ``bf`` boosts) for the search stand-in.

ckanext-spatial's bounding-box search (``ext_bbox``, backend ``solr-bbox``) indexes each
dataset's envelope as the numeric fields ``minx miny maxx maxy`` and asks Solr for

- a filter ``{!frange incl=false l=0 u=1}<f>`` keeping the datasets whose overlap ratio
  ``f = 2·(box ∩ envelope) / (area(box) + area(envelope))`` is in ]0, 1];
- a boost ``bf=<f>`` (with ``defType=edismax``) so the best overlaps come first.

This module compiles such function expressions — ``add sub mul div min max abs``, numbers
and numeric fields — to SQL over the index table's JSONB documents. As in Solr, a missing
field counts as 0 and a division by zero gives 0. Numbers and field names reach
PostgreSQL only as bound parameters.
"""
from __future__ import annotations

import re
from typing import Any

from ckanext.dataclic.pgsearch import lucene
from ckanext.dataclic.pgsearch.compiler import QueryCompiler

_TOKEN = re.compile(r"\s*(?:(?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|-?\.\d+)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<punct>[(),]))")
_VARIADIC = {"add": " + ", "mul": " * "}
_FUNCTIONS = {"add", "sub", "mul", "div", "min", "max", "abs"}
MAX_DEPTH = 32


class _Parser:
    def __init__(self, text: str, compiler: QueryCompiler) -> None:
        self.tokens = self._tokenize(text)
        self.position = 0
        self.compiler = compiler

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, i, text = [], 0, text.strip()
        while i < len(text):
            match = _TOKEN.match(text, i)
            if not match or match.end() == i:
                raise lucene.QuerySyntaxError(f"Invalid function query near '{text[i:i + 20]}'.")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            i = match.end()
            while i < len(text) and text[i].isspace():
                i += 1
        return tokens

    def _next(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise lucene.QuerySyntaxError("Unexpected end of function query.")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def _expect(self, value: str) -> None:
        if self._next() != ("punct", value):
            raise lucene.QuerySyntaxError(f"Invalid function query: '{value}' expected.")

    def parse(self) -> str:
        sql = self._expression(0)
        if self.position != len(self.tokens):
            raise lucene.QuerySyntaxError("Invalid function query: unexpected trailing text.")
        return sql

    def _expression(self, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise lucene.QuerySyntaxError("Function query nested too deeply.")
        kind, value = self._next()
        if kind == "number":
            return f"CAST({self.compiler.bind(float(value))} AS float8)"
        if kind != "name":
            raise lucene.QuerySyntaxError("Invalid function query.")
        if self.position < len(self.tokens) and self.tokens[self.position] == ("punct", "("):
            return self._call(value.lower(), depth)
        return self._field(value)

    def _call(self, name: str, depth: int) -> str:
        if name not in _FUNCTIONS:
            raise lucene.QuerySyntaxError(f"Unsupported function '{name}' in function query.")
        self._expect("(")
        args = [self._expression(depth + 1)]
        while True:
            kind, value = self._next()
            if (kind, value) == ("punct", ")"):
                break
            if (kind, value) != ("punct", ","):
                raise lucene.QuerySyntaxError("Invalid function query: ',' or ')' expected.")
            args.append(self._expression(depth + 1))
        fixed = {"sub": 2, "div": 2, "abs": 1}
        if name in fixed and len(args) != fixed[name]:
            raise lucene.QuerySyntaxError(f"Function '{name}' takes {fixed[name]} arguments.")
        if name in _VARIADIC:
            return "(" + _VARIADIC[name].join(args) + ")"
        if name == "sub":
            return f"({args[0]} - {args[1]})"
        if name == "div":
            return f"COALESCE({args[0]} / NULLIF({args[1]}, 0), 0)"
        if name == "abs":
            return f"abs({args[0]})"
        return f"{'LEAST' if name == 'min' else 'GREATEST'}({', '.join(args)})"

    def _field(self, name: str) -> str:
        param = self.compiler.bind(name)
        return (
            f"COALESCE((CASE WHEN jsonb_typeof(doc -> {param}) = 'number' "
            f"THEN CAST(doc ->> {param} AS float8) END), 0)"
        )


def function_sql(text: str, compiler: QueryCompiler) -> str:
    """SQL value of a Solr function expression such as ``div(sub(maxx,minx),2)``."""
    return _Parser(text, compiler).parse()


def filter_sql(fq: str, compiler: QueryCompiler) -> str | None:
    """SQL condition of an ``{!frange l=… u=… incl=… incu=…}<function>`` filter; None when
    ``fq`` is another kind of filter."""
    local, body = lucene.split_local_params(fq)
    if local is None or local[0] != "frange":
        return None
    options = dict(local[1])
    value = function_sql(body, compiler)
    parts = []
    for key, inclusive_key, operators in (("l", "incl", (">=", ">")), ("u", "incu", ("<=", "<"))):
        if key not in options:
            continue
        try:
            bound = float(options[key])
        except ValueError as error:
            raise lucene.QuerySyntaxError(f"Invalid frange bound '{options[key]}'.") from error
        inclusive = options.get(inclusive_key, "true").lower() != "false"
        parts.append(f"{value} {operators[0] if inclusive else operators[1]} "
                     f"{compiler.bind(bound)}")
    return "(" + " AND ".join(parts or ["TRUE"]) + ")"


def boost_sql(params: dict[str, Any], compiler: QueryCompiler) -> str | None:
    """SQL of the additive boost functions (``bf``) of a dismax/edismax query, if any."""
    if str(params.get("defType", "lucene")) not in ("dismax", "edismax"):
        return None
    boosts = params.get("bf")
    if not boosts:
        return None
    functions = boosts if isinstance(boosts, (list, tuple)) else [boosts]
    parts = []
    for item in functions:
        text = re.sub(r"\^\d+(\.\d+)?\s*$", "", str(item).strip())
        if text:
            parts.append(function_sql(text, compiler))
    return " + ".join(parts) if parts else None
