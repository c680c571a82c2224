"""Accent- and case-insensitive prefix search over territory names and codes."""
from __future__ import annotations

import bisect
import heapq
import re
import unicodedata
from dataclasses import dataclass, field

KIND_LABELS: dict[str, str] = {
    "commune": "Commune",
    "arrondissement": "Municipal arrondissement",
    "epci": "Intercommunality (EPCI)",
    "departement": "Département",
    "region": "Région",
}

_SEPARATORS = re.compile(r"[\s\-'’‘`´.,;:/()_\"]+")
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}


def fold(text: str) -> str:
    """Lower-case, strip accents, hyphens and apostrophes as spaces, expand st/ste."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.replace("œ", "oe").replace("æ", "ae")
    tokens = [t for t in _SEPARATORS.split(plain) if t]
    return " ".join(_ABBREVIATIONS.get(t, t) for t in tokens)


@dataclass(frozen=True)
class SearchResult:
    kind: str
    code: str
    name: str
    population: int
    departement_code: str | None
    departement_name: str | None

    @property
    def id(self) -> str:
        kind = "commune" if self.kind == "arrondissement" else self.kind
        return f"{kind}:{self.code}"

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "code": self.code,
            "name": self.name,
            "population": self.population,
            "departement": (
                {"code": self.departement_code, "name": self.departement_name}
                if self.departement_code
                else None
            ),
        }


@dataclass
class SearchIndex:
    """A flat in-memory index: a linear scan over ~40,000 folded names takes a few ms."""

    results: list[SearchResult] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    tokens: list[tuple[str, ...]] = field(default_factory=list)
    by_key: dict[str, list[int]] = field(default_factory=dict)
    _blob: str | None = None
    _line_starts: list[int] = field(default_factory=list)
    _rank: list[int] = field(default_factory=list)

    def add(self, result: SearchResult, keys: tuple[str, ...] = ()) -> None:
        position = len(self.results)
        self.results.append(result)
        name = fold(result.name)
        self.folded.append(name)
        self.tokens.append(tuple(name.split()))
        for key in {result.code.upper(), *keys}:
            self.by_key.setdefault(key, []).append(position)
        self._blob = None

    def _candidates(self, token: str, *, word_starts: bool = True) -> set[int]:
        """Entries whose name (or, with ``word_starts``, one of its words) starts with token.

        Literal patterns let the regex engine use its fast substring search over one string
        holding every name, one per line.
        """
        self._prepare()
        blob, starts = self._blob or "", self._line_starts
        found: set[int] = set()
        for separator in ("\n", " ") if word_starts else ("\n",):
            for match in re.finditer(re.escape(separator + token), blob):
                found.add(bisect.bisect_right(starts, match.start() + 1) - 1)
        return found

    def _prepare(self) -> None:
        if self._blob is None:
            self._blob = "\n" + "\n".join(self.folded)
            starts, offset = [], 1
            for name in self.folded:
                starts.append(offset)
                offset += len(name) + 1
            self._line_starts = starts
            order = sorted(
                range(len(self.results)),
                key=lambda i: (-self.results[i].population, self.folded[i], self.results[i].code),
            )
            self._rank = [0] * len(order)
            for rank, position in enumerate(order):
                self._rank[position] = rank

    def search(
        self, query: str, *, kinds: set[str] | None = None, limit: int = 10
    ) -> list[SearchResult]:
        text = query.strip()
        if not text or limit <= 0:
            return []
        scored: dict[int, int] = {}
        self._prepare()
        rank = self._rank
        wanted = set(kinds or ())
        if "commune" in wanted:
            wanted.add("arrondissement")

        def offer(position: int, tier: int) -> None:
            if wanted and self.results[position].kind not in wanted:
                return
            # Lower is better: the tier first, then population (precomputed static rank).
            score = tier * 1_000_000 + rank[position]
            if score < scored.get(position, 1 << 62):
                scored[position] = score

        # Exact codes, SIREN and postcodes first (tier 0 and 1).
        key = text.replace(" ", "").upper()
        if len(key) == 4 and key.isdigit():
            key = "0" + key
        for position in self.by_key.get(key, ()):
            result = self.results[position]
            offer(position, 0 if result.code.upper() == key else 1)

        folded_query = fold(text)
        if folded_query:
            # Names starting with the query rank above names with a later word matching, so
            # the (larger) word-start scan only runs when the first tiers leave room.
            prefixed = self._candidates(folded_query, word_starts=False)
            for position in prefixed:
                offer(position, 2 if self.folded[position] == folded_query else 3)
            if len(scored) < limit and len(folded_query) > 1:
                query_tokens = folded_query.split()
                longest = max(query_tokens, key=len)
                for position in self._candidates(longest) - prefixed:
                    if _tokens_prefix(query_tokens, self.tokens[position]):
                        offer(position, 4)
        best = heapq.nsmallest(limit, scored.items(), key=lambda item: item[1])
        return [self.results[position] for position, _ in best]


def _tokens_prefix(query_tokens: list[str], name_tokens: tuple[str, ...]) -> bool:
    """Each query word starts some distinct word of the name, in order."""
    start = 0
    for token in query_tokens:
        for index in range(start, len(name_tokens)):
            if name_tokens[index].startswith(token):
                start = index + 1
                break
        else:
            return False
    return True
