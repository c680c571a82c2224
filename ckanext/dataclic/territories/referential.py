"""The territory referential: communes, EPCI, départements, régions, and their contours."""
from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .codes import N_, PerimeterError, PerimeterId, normalise_code, parse_perimeter_id, shown
from .cog_tables import referential_fields
from .search import SearchIndex, SearchResult, build_search_index
from .units import AttachedCode, Commune, ContourSource, Epci, ParentRef, Perimeter, contours_digest

# Bounds of the in-memory caches: custom commune lists come from users, so the caches must not
# grow without limit in a long-running web process.
MAX_CACHED_PERIMETERS = 4096
MAX_CACHED_GEOMETRIES = 512
# Commune contours loaded one perimeter at a time (when the whole set is not loaded): more
# than the largest département, so a région's union by départements stays one load each.
MAX_CACHED_COMMUNE_CONTOURS = 4096


def _remember(cache: dict[str, Any], key: str, value: Any, limit: int) -> None:
    """Insert into a dict used as a FIFO-bounded cache (oldest entries dropped first)."""
    while len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = value


@dataclass
class Referential:
    """Every territory of one COG vintage, with lookups by code, name and perimeter."""

    vintage: str
    communes: dict[str, Commune]
    arrondissements: dict[str, Commune]
    attached: dict[str, AttachedCode]
    epcis: dict[str, Epci]
    departements: dict[str, tuple[str, str]]  # code -> (name, region code)
    regions: dict[str, str]
    contour_loader: Callable[[], dict[str, Any]] | None = None
    # Loads the contours of some communes only (codes absent from the store are left out).
    # With it, a perimeter's geometry reads its own communes, not every contour of France.
    contour_subset_loader: Callable[[Collection[str]], dict[str, Any]] | None = None
    contour_sources: list[ContourSource] = field(default_factory=list)
    # Digest of every commune code and contour, computed by the store (see
    # contours_fingerprint); None: computed here from the loaded contours.
    contour_fingerprint_loader: Callable[[], str] | None = None
    contours_from_parts: tuple[str, ...] = ()
    _contours: dict[str, Any] | None = field(default=None, repr=False)
    _contours_fingerprint: str | None = field(default=None, repr=False)
    _geometry_cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _commune_contours: dict[str, Any] = field(default_factory=dict, repr=False)
    _perimeter_cache: dict[str, Perimeter] = field(default_factory=dict, repr=False)
    _index: SearchIndex | None = field(default=None, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    _default: ClassVar[Referential | None] = None  # the embedded referential, once loaded

    def __post_init__(self) -> None:
        self._extra_codes: dict[str, set[str]] = {}
        for code, arrondissement in self.arrondissements.items():
            self._extra_codes.setdefault(arrondissement.parent_code or "", set()).add(code)
        for code, item in self.attached.items():
            self._extra_codes.setdefault(item.commune_code, set()).add(code)
        self._by_departement: dict[str, list[str]] = {}
        self._by_region: dict[str, list[str]] = {}
        for commune in self.communes.values():
            self._by_departement.setdefault(commune.departement_code, []).append(commune.code)
            self._by_region.setdefault(commune.region_code, []).append(commune.code)

    def __repr__(self) -> str:
        return (
            f"Referential({self.vintage!r}, {len(self.communes)} communes, "
            f"{len(self.epcis)} EPCI)"
        )

    # -- construction -------------------------------------------------------------------

    @classmethod
    def default(cls) -> Referential:
        """The referential embedded in the package, loaded once per process."""
        if Referential._default is None:
            from .embedded import read_cog

            Referential._default = cls.from_cog_tables(
                read_cog(), contour_loader=_embedded, contour_subset_loader=_embedded_subset
            )
        return Referential._default

    @classmethod
    def from_cog_tables(
        cls,
        tables: dict[str, Any],
        *,
        contour_loader: Callable[[], dict[str, Any]] | None = None,
        contour_subset_loader: Callable[[Collection[str]], dict[str, Any]] | None = None,
        contour_fingerprint_loader: Callable[[], str] | None = None,
    ) -> Referential:
        """Build from the compact tables of ``cog.json.gz`` (see build_referential.py)."""
        return cls(**referential_fields(
            tables, contour_loader=contour_loader,
            contour_subset_loader=contour_subset_loader,
            embedded_contours=contour_loader is _embedded),
            contour_fingerprint_loader=contour_fingerprint_loader)

    # -- codes ----------------------------------------------------------------------------

    def normalise_code(self, code: str, *, pad: bool = True) -> str:
        return normalise_code(code, pad=pad)

    def current_commune(self, code: str, *, pad: bool = True) -> Commune | None:
        """Today's commune for any code seen in data; ``None`` when the code is unknown."""
        key = normalise_code(code, pad=pad)
        commune = self.communes.get(key)
        if commune is not None:
            return commune
        arrondissement = self.arrondissements.get(key)
        if arrondissement is not None:
            return self.communes.get(arrondissement.parent_code or "")
        item = self.attached.get(key)
        if item is not None:
            return self.communes.get(item.commune_code)
        if len(key) == 5 and key.startswith("20") and key.isdigit():
            # Corsica's pre-1976 numbering: 20xxx became 2Axxx or 2Bxxx.
            for corsican in ("2A", "2B"):
                found = self.current_commune(corsican + key[2:], pad=False)
                if found is not None:
                    return found
        return None

    def is_known_code(self, code: str, *, pad: bool = True) -> bool:
        return self.current_commune(code, pad=pad) is not None

    def codes_of_commune(self, code: str) -> set[str]:
        """The commune's own code plus every code whose rows belong to it."""
        found = {code}
        found.update(self._extra_codes.get(code, ()))
        corsican = {"20" + c[2:] for c in found if c.startswith(("2A", "2B"))}
        return found | corsican

    # -- perimeters -----------------------------------------------------------------------

    def resolve(self, perimeter: str) -> Perimeter:
        """Resolve ``kind:code`` to a Perimeter; PerimeterError when malformed or unknown."""
        cached = self._perimeter_cache.get(perimeter) if isinstance(perimeter, str) else None
        if cached is not None:
            return cached
        parsed = parse_perimeter_id(perimeter)
        resolved = self._resolve_parsed(parsed)
        with self._lock:
            _remember(self._perimeter_cache, perimeter, resolved, MAX_CACHED_PERIMETERS)
            if resolved.id not in self._perimeter_cache:
                _remember(self._perimeter_cache, resolved.id, resolved, MAX_CACHED_PERIMETERS)
        return resolved

    def _unknown(self, template: str, code: str) -> PerimeterError:
        return PerimeterError(template, field="code", code=shown(code), vintage=self.vintage)

    def _commune_or_arrondissement(self, code: str) -> Commune:
        commune = self.communes.get(code) or self.arrondissements.get(code)
        if commune is not None:
            return commune
        if code.startswith("20") and code.isdigit():
            raise PerimeterError(
                N_("Commune code {code} uses Corsica's former numbering; use 2A or 2B "
                   "(e.g. {example})"),
                field="code", code=shown(code), example=f"2A{code[2:]}",
            )
        item = self.attached.get(code)
        if item is not None:
            current = self.communes[item.commune_code]
            raise PerimeterError(
                N_("Commune {code} is no longer a commune: it is part of {current} "
                   "({name}); use commune:{current}"),
                field="code", code=shown(code), current=current.code, name=current.name,
            )
        raise self._unknown(N_("Unknown commune {code} in the {vintage} referential"), code)

    def _resolve_parsed(self, parsed: PerimeterId) -> Perimeter:
        kind, code = parsed.kind, parsed.code
        if kind == "commune":
            commune = self._commune_or_arrondissement(code)
            return self._perimeter(parsed, commune.name, [commune.code],
                                   self._parents_of_commune(commune))
        if kind == "communes":
            members = [self._commune_or_arrondissement(c) for c in parsed.codes]
            name = ", ".join(m.name for m in members[:3])
            if len(members) > 3:
                name += f" (+{len(members) - 3})"
            return self._perimeter(parsed, name, [m.code for m in members],
                                   self._parents_of_many(members))
        if kind == "epci":
            epci = self.epcis.get(code)
            if epci is None:
                raise self._unknown(N_("Unknown EPCI SIREN {code} in the {vintage} referential"),
                                    code)
            members = [self.communes[c] for c in epci.members if c in self.communes]
            return self._perimeter(parsed, epci.name, list(epci.members),
                                   self._parents_of_many(members, with_epci=False))
        if kind == "departement":
            if code not in self.departements:
                raise self._unknown(
                    N_("Unknown département {code} in the {vintage} referential"), code)
            name, region = self.departements[code]
            parents = [("region", region, self.regions.get(region, region))]
            return self._perimeter(parsed, name, self._by_departement.get(code, []), parents)
        if code not in self.regions:
            raise self._unknown(N_("Unknown région {code} in the {vintage} referential"), code)
        return self._perimeter(parsed, self.regions[code], self._by_region.get(code, []), [])

    def _perimeter(
        self, parsed: PerimeterId, name: str, communes: Iterable[str], parents: list[ParentRef]
    ) -> Perimeter:
        members = tuple(sorted(set(communes)))
        codes: set[str] = set()
        for member in members:
            codes |= self.codes_of_commune(member)
        return Perimeter(
            id=parsed.id,
            kind=parsed.kind,
            code=parsed.code,
            name=name,
            vintage=self.vintage,
            communes=members,
            codes=frozenset(codes),
            parents=parents,
            referential=self,
        )

    def _parents_of_commune(self, commune: Commune) -> list[ParentRef]:
        parents: list[ParentRef] = []
        if commune.kind == "arrondissement" and commune.parent_code in self.communes:
            parent = self.communes[commune.parent_code]
            parents.append(("commune", parent.code, parent.name))
        if commune.epci_siren:
            parents.append(("epci", commune.epci_siren, commune.epci_name or ""))
        return parents + self._parents_of_many([commune], with_epci=False)

    def _parents_of_many(self, members: list[Commune], *,
                         with_epci: bool = True) -> list[ParentRef]:
        parents: list[ParentRef] = []
        if with_epci:
            sirens = sorted({m.epci_siren for m in members if m.epci_siren})
            parents += [("epci", s, self.epcis[s].name) for s in sirens]
        for dep in sorted({m.departement_code for m in members}):
            parents.append(("departement", dep, self.departements.get(dep, (dep, ""))[0]))
        for reg in sorted({m.region_code for m in members}):
            parents.append(("region", reg, self.regions.get(reg, reg)))
        return parents

    # -- geometry -------------------------------------------------------------------------

    def contours(self) -> dict[str, Any]:
        """Commune (and arrondissement) code -> MultiPolygon, loaded on first use."""
        if self._contours is None:
            with self._lock:
                if self._contours is None:
                    loaded = self.contour_loader() if self.contour_loader else {}
                    for source in self.contour_sources:
                        if not source.communes:
                            source.communes = len(loaded)
                    self._contours = loaded
        return self._contours

    def commune_contours(self, codes: Iterable[str]) -> dict[str, Any]:
        """Code -> contour of ``codes`` (those with one). Reads only these communes when the
        whole set is not loaded and the referential can load a subset; kept in a bounded
        cache, so the communes of a perimeter just cut cost nothing more."""
        wanted = list(dict.fromkeys(codes))
        if self._contours is not None or self.contour_subset_loader is None:
            contours = self.contours()
            return {c: contours[c] for c in wanted if c in contours}
        cached = ((c, self._commune_contours.get(c)) for c in wanted)  # .get: thread-safe
        found = {c: geometry for c, geometry in cached if geometry is not None}
        missing = [c for c in wanted if c not in found]
        if missing:
            loaded = self.contour_subset_loader(missing)
            found.update(loaded)
            with self._lock:
                for code, geometry in loaded.items():
                    _remember(self._commune_contours, code, geometry,
                              MAX_CACHED_COMMUNE_CONTOURS)
        return {c: found[c] for c in wanted if c in found}

    def contours_fingerprint(self) -> str:
        """Identifies the contours' content (codes and geometries), computed once: caches
        built from them (grid coverage weights) are shared by every process using the same
        contours, and a reload with other contours gets its own."""
        if self._contours_fingerprint is None:
            if self.contour_fingerprint_loader is not None:
                value = self.contour_fingerprint_loader()
            else:
                value = contours_digest(self.contours())
            self._contours_fingerprint = value
        return self._contours_fingerprint

    def commune_geometry(self, code: str) -> Any | None:
        return self.commune_contours([code]).get(code)

    def communes_without_geometry(self) -> list[str]:
        contours = self.contours()
        return sorted(c for c in self.communes if c not in contours)

    def perimeter_geometry(self, perimeter: Perimeter) -> Any:
        cached = self._geometry_cache.get(perimeter.id)
        if cached is not None:
            return cached
        import shapely

        if perimeter.kind == "region":
            # Union of the départements' (cached) unions is cheaper than one big union.
            deps = sorted({self.communes[c].departement_code for c in perimeter.communes})
            parts = [self.resolve(f"departement:{d}").geometry for d in deps]
        else:
            contours = self.commune_contours(perimeter.communes)
            parts = [contours[c] for c in perimeter.communes if c in contours]
        if not parts:
            geometry = shapely.MultiPolygon()
        elif len(parts) == 1:
            geometry = parts[0]
        else:
            geometry = shapely.union_all(parts)
            if not geometry.is_valid:
                geometry = shapely.make_valid(geometry)
        with self._lock:
            _remember(self._geometry_cache, perimeter.id, geometry, MAX_CACHED_GEOMETRIES)
        return geometry

    def with_contours(self, contours: dict[str, Any], source: ContourSource) -> Referential:
        """A new referential whose contours are overridden by ``contours`` (self is untouched)."""
        base = dict(self.contours())
        base.update(contours)
        clone = Referential(
            vintage=self.vintage,
            communes=self.communes,
            arrondissements=self.arrondissements,
            attached=self.attached,
            epcis=self.epcis,
            departements=self.departements,
            regions=self.regions,
            contour_loader=None,
            contour_sources=[*self.contour_sources, source],
            contours_from_parts=self.contours_from_parts,
        )
        clone._contours = base
        clone._index = self._index  # same names and codes: the search index is shared
        return clone

    # -- search ---------------------------------------------------------------------------

    def search_index(self) -> SearchIndex:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._build_index()
        return self._index

    def _build_index(self) -> SearchIndex:
        return build_search_index(self)


    def search(
        self, query: str, *, kinds: Iterable[str] | None = None, limit: int = 10
    ) -> list[SearchResult]:
        """Territories whose name, code, SIREN or postcode match ``query``, best first."""
        return self.search_index().search(
            query, kinds=set(kinds) if kinds else None, limit=limit
        )

    # -- reporting ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        missing = self.communes_without_geometry()
        return {
            "vintage": self.vintage,
            "communes": len(self.communes),
            "arrondissements": len(self.arrondissements),
            "attached_codes": len(self.attached),
            "epci": len(self.epcis),
            "departements": len(self.departements),
            "regions": len(self.regions),
            "contour_sources": [source.__dict__ for source in self.contour_sources],
            "communes_without_geometry": missing,
            "communes_with_geometry_from_parts": list(self.contours_from_parts),
        }


def _embedded() -> dict[str, Any]:
    from .embedded import read_contours

    codes, geometries = read_contours()
    return dict(zip(codes, geometries))


def _embedded_subset(codes: Collection[str]) -> dict[str, Any]:
    from .embedded import read_contours

    found, geometries = read_contours(codes=codes)
    return dict(zip(found, geometries))
