"""Accent- and case-insensitive prefix search over territory names and codes."""
from __future__ import annotations

import bisect
import heapq
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

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
    """In-memory index of folded names: sorted name and word-suffix arrays for prefix ranges.

    A prefix query is two binary searches in a sorted array; the best matches of a range are
    picked by population rank with numpy, so even one-letter queries stay in the low ms.
    """

    results: list[SearchResult] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    tokens: list[tuple[str, ...]] = field(default_factory=list)
    by_key: dict[str, list[int]] = field(default_factory=dict)
    _ready: bool = False

    def add(self, result: SearchResult, keys: tuple[str, ...] = ()) -> None:
        position = len(self.results)
        self.results.append(result)
        name = fold(result.name)
        self.folded.append(name)
        self.tokens.append(tuple(name.split()))
        for key in {result.code.upper(), *keys}:
            self.by_key.setdefault(key, []).append(position)
        self._ready = False

    def prepare(self) -> None:
        """Build the sorted arrays (done once, before the first query)."""
        if self._ready:
            return
        import numpy as np

        count = len(self.results)
        order = sorted(
            range(count),
            key=lambda i: (-self.results[i].population, self.folded[i], self.results[i].code),
        )
        rank = np.empty(count, dtype=np.int64)
        rank[np.asarray(order, dtype=np.int64)] = np.arange(count)
        self._rank = rank
        kinds = sorted({r.kind for r in self.results})
        self._kind_ids = {kind: index for index, kind in enumerate(kinds)}
        self._kind = np.asarray([self._kind_ids[r.kind] for r in self.results], dtype=np.int8)
        self._exact: dict[str, list[int]] = {}
        for position, name in enumerate(self.folded):
            self._exact.setdefault(name, []).append(position)
        names = sorted(range(count), key=self.folded.__getitem__)
        self._names = [self.folded[i] for i in names]
        self._names_pos = np.asarray(names, dtype=np.int64)
        suffixes: list[tuple[str, int]] = []
        for position, name in enumerate(self.folded):
            for index, char in enumerate(name):
                if index and char == " ":
                    suffixes.append((name[index + 1:], position))
        suffixes.sort()
        self._suffixes = [text for text, _ in suffixes]
        self._suffixes_pos = np.asarray([pos for _, pos in suffixes], dtype=np.int64)
        self._ready = True

    def _best_in_range(self, keys: list[str], positions, prefix: str, wanted, limit: int):
        """Up to ``limit`` best-ranked entries among those whose key starts with prefix."""
        import numpy as np

        low = bisect.bisect_left(keys, prefix)
        high = bisect.bisect_left(keys, prefix + "\uffff", low)
        if low >= high:
            return []
        found = np.unique(positions[low:high])
        if wanted is not None:
            found = found[np.isin(self._kind[found], wanted)]
        if len(found) > limit:
            ranks = self._rank[found]
            found = found[np.argpartition(ranks, limit - 1)[:limit]]
        return found.tolist()

    def search(
        self, query: str, *, kinds: set[str] | None = None, limit: int = 10
    ) -> list[SearchResult]:
        text = query.strip()
        if not text or limit <= 0:
            return []
        import numpy as np

        self.prepare()
        wanted_kinds = set(kinds or ())
        if "commune" in wanted_kinds:
            wanted_kinds.add("arrondissement")
        wanted = (
            np.asarray([self._kind_ids[k] for k in wanted_kinds if k in self._kind_ids],
                       dtype=np.int8)
            if wanted_kinds else None
        )
        scored: dict[int, int] = {}

        def offer(position: int, tier: int) -> None:
            if wanted is not None and self._kind[position] not in wanted:
                return
            # Lower is better: the tier first, then the population rank.
            score = tier * 10_000_000 + int(self._rank[position])
            if score < scored.get(position, 1 << 62):
                scored[position] = score

        # Exact codes first, then SIREN and postcodes.
        key = text.replace(" ", "").upper()
        if len(key) == 4 and key.isdigit():
            key = "0" + key
        for position in self.by_key.get(key, ()):
            offer(position, 0 if self.results[position].code.upper() == key else 1)

        folded_query = fold(text)
        if folded_query:
            for position in self._exact.get(folded_query, ()):
                offer(position, 2)
            for position in self._best_in_range(self._names, self._names_pos, folded_query,
                                                wanted, limit):
                offer(position, 3)
            if len(scored) < limit and len(folded_query) > 1:
                for position in self._best_in_range(self._suffixes, self._suffixes_pos,
                                                    folded_query, wanted, limit):
                    offer(position, 4)
            query_tokens = folded_query.split()
            if len(scored) < limit and len(query_tokens) > 1:
                # Words of the query that are not contiguous in the name ("grand emilion").
                for position in self._scan_words(query_tokens):
                    offer(position, 5)
        best = heapq.nsmallest(limit, scored.items(), key=lambda item: item[1])
        return [self.results[position] for position, _ in best]

    def _scan_words(self, query_tokens: list[str]) -> list[int]:
        import numpy as np

        longest = max(query_tokens, key=len)
        low = bisect.bisect_left(self._suffixes, longest)
        high = bisect.bisect_left(self._suffixes, longest + "\uffff", low)
        first = bisect.bisect_left(self._names, longest)
        last = bisect.bisect_left(self._names, longest + "\uffff", first)
        candidates = np.unique(np.concatenate(
            [self._suffixes_pos[low:high], self._names_pos[first:last]]))
        return [int(p) for p in candidates
                if _tokens_prefix(query_tokens, self.tokens[int(p)])]


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


def build_search_index(referential: Any) -> SearchIndex:
    """The search index of every commune, arrondissement, EPCI, département and région of
    ``referential``."""
    index = SearchIndex()
    dep_name = {code: name for code, (name, _reg) in referential.departements.items()}
    for commune in [*referential.communes.values(), *referential.arrondissements.values()]:
        dep = commune.departement_code
        index.add(
            SearchResult(
                "commune" if commune.kind == "commune" else "arrondissement",
                commune.code, commune.name, commune.population, dep, dep_name.get(dep),
            ),
            keys=(*commune.postcodes, *((commune.siren,) if commune.siren else ())),
        )
    for epci in referential.epcis.values():
        deps = sorted({referential.communes[m].departement_code for m in epci.members
                       if m in referential.communes})
        dep = deps[0] if len(deps) == 1 else None
        index.add(SearchResult("epci", epci.siren, epci.name, epci.population, dep,
                               dep_name.get(dep or "")))
    region_population: dict[str, int] = {}
    dep_population: dict[str, int] = {}
    for commune in referential.communes.values():
        dep_population[commune.departement_code] = (
            dep_population.get(commune.departement_code, 0) + commune.population
        )
        region_population[commune.region_code] = (
            region_population.get(commune.region_code, 0) + commune.population
        )
    for code, (name, _reg) in referential.departements.items():
        index.add(SearchResult("departement", code, name, dep_population.get(code, 0),
                               code, name))
    for code, name in referential.regions.items():
        index.add(SearchResult("region", code, name, region_population.get(code, 0),
                               None, None))
    index.prepare()
    return index
