"""Tokenizer and parser for the Lucene/Solr query syntax CKAN and its users send.

The parser produces a small syntax tree (:class:`Bool`, :class:`Term`, :class:`Range`,
:class:`Exists`, :class:`MatchAll`); :mod:`ckanext.dataclic.pgsearch.compiler` turns it into
parameterised SQL. Boolean semantics follow Lucene's classic query parser: ``+`` and ``-``
prefixes, ``AND``/``OR``/``NOT`` (and ``&&``/``||``/``!``), a default operator for
juxtaposed clauses, groups ``( … )``, field groups ``field:( … )``, phrases, ranges
``[a TO b]``/``{a TO b}``, wildcards, ``field:*`` and ``*:*``. Boosts (``^2``) and fuzziness
(``~1``) are accepted and ignored.

One module past 400 lines on purpose: the tokenizer's token kinds and the recursive-descent
parser that consumes them form one grammar, read and changed together.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum


class QuerySyntaxError(ValueError):
    """A search query that cannot be parsed; the message is meant for the user."""


class Occur(Enum):
    MUST = "must"
    SHOULD = "should"
    MUST_NOT = "must_not"


@dataclass(frozen=True)
class MatchAll:
    pass


@dataclass(frozen=True)
class Term:
    """A word, phrase, prefix or wildcard pattern, on a field or on the default field."""

    field: str | None
    text: str
    kind: str = "term"  # term | phrase | prefix | wildcard


@dataclass(frozen=True)
class Range:
    field: str | None
    low: str | None
    high: str | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True)
class Exists:
    field: str


@dataclass(frozen=True)
class Bool:
    clauses: tuple[tuple[Occur, Node], ...]
    minimum_should_match: int = 0
    implicit_only: bool = field(default=False, compare=False)


Node = MatchAll | Term | Range | Exists | Bool

FIELD_NAME = re.compile(r"^(\*|[A-Za-z_@][A-Za-z0-9_.@\-]*)$")
_SPECIAL = set(' \t\r\n()"[]{}^~:')
_NUMBER = re.compile(r"[0-9]*\.?[0-9]+")
_MAX_DEPTH = 50
_MAX_LENGTH = 20000


@dataclass
class Token:
    kind: str  # LPAREN RPAREN PLUS MINUS NOT AND OR FIELD TERM PHRASE RANGE
    value: str = ""
    pos: int = 0
    wildcard: bool = False  # TERM holds an unescaped * or ?
    extra: tuple[str | None, str | None, bool, bool] | None = None  # RANGE bounds


def _skip_modifier(text: str, i: int) -> int:
    """Skip a boost (``^2.5``) or fuzziness (``~``, ``~2``) suffix."""
    while i < len(text) and text[i] in "^~":
        i += 1
        match = _NUMBER.match(text, i)
        if match:
            i = match.end()
    return i


def _parse_range_body(body: str, pos: int) -> tuple[str | None, str | None]:
    parts = _split_range(body)
    if len(parts) != 3 or parts[1] != "TO":
        raise QuerySyntaxError(f"Invalid range at position {pos}: expected [low TO high].")
    low, high = (None if p == "*" else _unquote(p) for p in (parts[0], parts[2]))
    return low, high


def _split_range(body: str) -> list[str]:
    parts: list[str] = []
    i = 0
    while i < len(body):
        if body[i].isspace():
            i += 1
            continue
        if body[i] == '"':
            end = body.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError("Unterminated quote inside a range.")
            parts.append(body[i : end + 1])
            i = end + 1
            continue
        start = i
        while i < len(body) and not body[i].isspace():
            i += 2 if body[i] == "\\" else 1
        parts.append(body[start:i])
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return re.sub(r"\\(.)", r"\1", value)


def tokenize(text: str) -> list[Token]:
    if len(text) > _MAX_LENGTH:
        raise QuerySyntaxError("Search query is too long.")
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            tokens.append(Token("LPAREN", pos=i))
            i += 1
        elif ch == ")":
            tokens.append(Token("RPAREN", pos=i))
            i = _skip_modifier(text, i + 1)
        elif ch == "+":
            tokens.append(Token("PLUS", pos=i))
            i += 1
        elif ch == "-":
            tokens.append(Token("MINUS", pos=i))
            i += 1
        elif ch == "!":
            tokens.append(Token("NOT", pos=i))
            i += 1
        elif text.startswith("&&", i):
            tokens.append(Token("AND", pos=i))
            i += 2
        elif text.startswith("||", i):
            tokens.append(Token("OR", pos=i))
            i += 2
        elif ch == '"':
            j = i + 1
            chars: list[str] = []
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    if j + 1 >= n:
                        break
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= n:
                raise QuerySyntaxError(f"Unterminated quote starting at position {i}.")
            tokens.append(Token("PHRASE", "".join(chars), pos=i))
            i = _skip_modifier(text, j + 1)
        elif ch in "[{":
            closers = "]}"
            j = i + 1
            in_quote = False
            while j < n and (in_quote or text[j] not in closers):
                if text[j] == "\\":
                    j += 1
                elif text[j] == '"':
                    in_quote = not in_quote
                j += 1
            if j >= n:
                raise QuerySyntaxError(f"Unterminated range starting at position {i}.")
            low, high = _parse_range_body(text[i + 1 : j], i)
            tokens.append(
                Token("RANGE", pos=i, extra=(low, high, ch == "[", text[j] == "]"))
            )
            i = _skip_modifier(text, j + 1)
        elif ch in ")]}:^~":
            raise QuerySyntaxError(f"Unexpected '{ch}' at position {i}.")
        else:
            j = i
            chars = []
            wildcard = False
            while j < n and text[j] not in _SPECIAL:
                if text[j] == "\\":
                    if j + 1 >= n:
                        raise QuerySyntaxError("A backslash cannot end the search query.")
                    chars.append(text[j + 1])
                    j += 2
                    continue
                if text[j] in "*?":
                    wildcard = True
                chars.append(text[j])
                j += 1
            word = "".join(chars)
            k = j
            while k < n and text[k] in " \t":
                k += 1  # Solr accepts "field : value"
            if k < n and text[k] == ":":
                j = k
                raw = text[i:j].rstrip()
                if not FIELD_NAME.match(raw):
                    raise QuerySyntaxError(f"Invalid field name '{raw}'.")
                tokens.append(Token("FIELD", raw, pos=i))
                i = j + 1
                continue
            if not wildcard and word in ("AND", "OR", "NOT") and text[i:j] == word:
                tokens.append(Token(word, pos=i))
            else:
                tokens.append(Token("TERM", word, pos=i, wildcard=wildcard))
            i = _skip_modifier(text, j)
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token], default_and: bool) -> None:
        self.tokens = tokens
        self.i = 0
        self.default_and = default_and
        self.depth = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Node:
        node = self.parse_clauses(None)
        extra = self.peek()
        if extra is not None:
            raise QuerySyntaxError(f"Unbalanced ')' at position {extra.pos}.")
        return node

    def parse_clauses(self, field_name: str | None) -> Bool:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise QuerySyntaxError("Search query is nested too deeply.")
        clauses: list[list] = []
        implicit_only = True
        while True:
            token = self.peek()
            if token is None or token.kind == "RPAREN":
                break
            conj = None
            if token.kind in ("AND", "OR"):
                implicit_only = False
                if not clauses:
                    raise QuerySyntaxError(f"'{token.kind}' without a left operand.")
                conj = self.take().kind
                token = self.peek()
                if token is None or token.kind == "RPAREN":
                    raise QuerySyntaxError(f"'{conj}' without a right operand.")
            modifier = None
            if token.kind in ("PLUS", "MINUS", "NOT"):
                implicit_only = False
                modifier = "REQ" if self.take().kind == "PLUS" else "NOT"
                following = self.peek()
                if following is not None and following.kind in ("PLUS", "MINUS", "NOT"):
                    raise QuerySyntaxError(
                        f"Two operators in a row at position {following.pos}."
                    )
                if self.peek() is None or self.peek().kind == "RPAREN":
                    raise QuerySyntaxError("An operator is missing its operand.")
            node = self.parse_clause(field_name)
            self.add_clause(clauses, conj, modifier, node)
        self.depth -= 1
        return Bool(tuple((c[0], c[1]) for c in clauses), implicit_only=implicit_only)

    def add_clause(self, clauses: list[list], conj: str | None, modifier: str | None,
                   node: Node) -> None:
        # Lucene's classic QueryParser.addClause semantics.
        if clauses and conj == "AND" and clauses[-1][0] is not Occur.MUST_NOT:
            clauses[-1][0] = Occur.MUST
        if clauses and self.default_and and conj == "OR" and clauses[-1][0] is not Occur.MUST_NOT:
            clauses[-1][0] = Occur.SHOULD
        prohibited = modifier == "NOT"
        if self.default_and:
            required = not prohibited and conj != "OR"
        else:
            required = modifier == "REQ" or (conj == "AND" and not prohibited)
        occur = Occur.MUST_NOT if prohibited else Occur.MUST if required else Occur.SHOULD
        clauses.append([occur, node])

    def parse_clause(self, field_name: str | None) -> Node:
        token = self.take()
        if token.kind == "LPAREN":
            inner = self.parse_clauses(field_name)
            closing = self.peek()
            if closing is None or closing.kind != "RPAREN":
                raise QuerySyntaxError(f"Unbalanced '(' at position {token.pos}.")
            self.take()
            return inner
        if token.kind == "FIELD":
            if field_name is not None and field_name != token.value:
                raise QuerySyntaxError(
                    f"Field '{token.value}' cannot be nested inside field '{field_name}'."
                )
            nxt = self.peek()
            if nxt is None or nxt.kind not in ("LPAREN", "TERM", "PHRASE", "RANGE"):
                raise QuerySyntaxError(f"Missing value after '{token.value}:'.")
            return self.parse_clause(token.value)
        if token.kind == "TERM":
            return _term_node(field_name, token)
        if token.kind == "PHRASE":
            if field_name == "*":
                raise QuerySyntaxError("'*:' only accepts '*'.")
            return Term(field_name, token.value, "phrase")
        if token.kind == "RANGE":
            assert token.extra is not None
            low, high, inc_low, inc_high = token.extra
            if field_name is None or field_name == "*":
                if low is None and high is None:
                    return MatchAll()
                raise QuerySyntaxError("A range needs a field, as in field:[a TO b].")
            if low is None and high is None:
                return Exists(field_name)
            return Range(field_name, low, high, inc_low, inc_high)
        raise QuerySyntaxError(f"Unexpected '{token.kind}' at position {token.pos}.")


def _term_node(field_name: str | None, token: Token) -> Node:
    text = token.value
    if field_name == "*":
        if text == "*":
            return MatchAll()
        raise QuerySyntaxError("'*:' only accepts '*'.")
    if token.wildcard:
        if text.strip("*") == "":
            return Exists(field_name) if field_name else MatchAll()
        if "?" not in text and text.endswith("*") and "*" not in text[:-1]:
            return Term(field_name, text[:-1], "prefix")
        return Term(field_name, text, "wildcard")
    return Term(field_name, text, "term")


_LOCAL_PARAMS = re.compile(r"^\s*\{![^}]*\}")


def strip_local_params(text: str) -> str:
    """Drop a leading ``{!…}`` local-params block (tags, exclusions, parser names)."""
    return _LOCAL_PARAMS.sub("", text, count=1)


def split_local_params(text: str) -> tuple[tuple[str | None, list[tuple[str, str]]] | None, str]:
    """Split ``{!parser key=value …}rest`` into ``((parser, params), rest)``."""
    stripped = text.lstrip()
    if not stripped.startswith("{!"):
        return None, text
    i, n = 2, len(stripped)
    parser: str | None = None
    params: list[tuple[str, str]] = []
    while True:
        while i < n and stripped[i].isspace():
            i += 1
        if i >= n:
            raise QuerySyntaxError("Unterminated local parameters '{!…}'.")
        if stripped[i] == "}":
            i += 1
            break
        start = i
        while i < n and not stripped[i].isspace() and stripped[i] not in "=}":
            i += 1
        key = stripped[start:i]
        if i < n and stripped[i] == "=":
            i += 1
            if i < n and stripped[i] in "'\"":
                quote = stripped[i]
                end = stripped.find(quote, i + 1)
                if end < 0:
                    raise QuerySyntaxError("Unterminated quote in local parameters.")
                value = stripped[i + 1 : end]
                i = end + 1
            else:
                start = i
                while i < n and not stripped[i].isspace() and stripped[i] != "}":
                    i += 1
                value = stripped[start:i]
            if key == "type":
                parser = value
            else:
                params.append((key, value))
        elif key:
            parser = key
        else:
            raise QuerySyntaxError("Invalid local parameters '{!…}'.")
    return (parser, params), stripped[i:]


_BOOL_OCCURS = {
    "must": Occur.MUST, "filter": Occur.MUST, "should": Occur.SHOULD, "must_not": Occur.MUST_NOT,
}
_TEXT_PARSERS = ("lucene", "dismax", "edismax")


def parse(text: str, default_and: bool = True) -> Node:
    """Parse a Lucene/Solr query; raise :class:`QuerySyntaxError` on malformed input.

    Local parameters are honoured for the ``lucene``, ``dismax``, ``edismax`` and ``bool``
    parsers (``q.op``, ``v``, ``must``/``should``/``must_not``/``filter``); tags and
    other keys are ignored. Other query parsers are refused.
    """
    local, text = split_local_params(text)
    if local is not None:
        parser, params = local
        options = dict(params)
        if "q.op" in options:
            default_and = options["q.op"].upper() != "OR"
        if parser == "bool":
            clauses = tuple(
                (_BOOL_OCCURS[key], parse(value, default_and))
                for key, value in params
                if key in _BOOL_OCCURS
            )
            return Bool(clauses) if clauses else MatchAll()
        if parser is not None and parser not in _TEXT_PARSERS:
            raise QuerySyntaxError(f"The query parser '{parser}' is not supported.")
        if "v" in options:
            text = options["v"]
    if not text.strip():
        return MatchAll()
    tokens = tokenize(text)
    return _Parser(tokens, default_and).parse()


def minimum_match(spec: str | None, optional_clauses: int) -> int:
    """Number of optional clauses that must match, per Solr's ``mm`` syntax.

    Supports integers, percentages (negative ones too) and conditional chains such as
    CKAN's default ``2<-1 5<80%``. Anything unreadable means "all clauses".
    """
    n = optional_clauses
    if n == 0:
        return 0
    spec = (spec or "").strip()
    if not spec:
        return n

    def apply(expr: str) -> int:
        expr = expr.strip()
        try:
            if expr.endswith("%"):
                pct = int(expr[:-1])
                value = int(n * abs(pct) / 100)
                return n - value if pct < 0 else value
            number = int(expr)
        except ValueError:
            return n
        return n + number if number < 0 else number

    if "<" not in spec:
        result = apply(spec)
    else:
        result = n
        for part in spec.split():
            threshold, sep, expr = part.partition("<")
            try:
                if sep and n > int(threshold):
                    result = apply(expr)
            except ValueError:
                return n
    return max(1, min(n, result))
