"""The units of the territory referential: communes, EPCI, attached codes, contour sources and
resolved perimeters (whose geometry the referential computes)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .referential import Referential

ParentRef = tuple[str, str, str]


@dataclass(frozen=True)
class Commune:
    """A current commune (or a municipal arrondissement, when ``kind`` says so)."""

    code: str
    name: str
    epci_siren: str | None
    epci_name: str | None
    departement_code: str
    region_code: str
    population: int = 0
    postcodes: tuple[str, ...] = ()
    kind: str = "commune"
    parent_code: str | None = None  # the commune of a municipal arrondissement
    siren: str = ""


@dataclass(frozen=True)
class Epci:
    siren: str
    name: str
    type: str
    population: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class AttachedCode:
    """A code that identifies rows but is no current commune: déléguée, associée, former."""

    code: str
    name: str
    kind: str  # "deleguee", "associee" or "former"
    commune_code: str


@dataclass
class ContourSource:
    """Where the geometry of some communes came from, and its vintage."""

    name: str
    vintage: str
    communes: int


class Perimeter:
    """A resolved perimeter: codes for code-keyed data, names, parents and a lazy geometry."""

    __slots__ = ("_ref", "code", "codes", "communes", "id", "kind", "name", "parents", "vintage")

    def __init__(
        self,
        *,
        id: str,
        kind: str,
        code: str,
        name: str,
        vintage: str,
        communes: tuple[str, ...],
        codes: frozenset[str],
        parents: list[ParentRef],
        referential: Referential,
    ) -> None:
        self.id = id
        self.kind = kind
        self.code = code
        self.name = name
        self.vintage = vintage
        self.communes = communes
        self.codes = codes
        self.parents = parents
        self._ref = referential

    @property
    def geometry(self) -> Any:
        """Union of the communes' contours, EPSG:4326, computed once per referential."""
        return self._ref.perimeter_geometry(self)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.geometry.bounds)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Perimeter({self.id!r}, {self.name!r}, {len(self.communes)} communes)"


def contours_digest(contours: dict[str, Any]) -> str:
    """Digest of code -> contour (WKB bytes or shapely geometries), in code order."""
    import hashlib

    import shapely

    digest = hashlib.sha1()
    for code in sorted(contours):
        geometry = contours[code]
        wkb = geometry if isinstance(geometry, bytes) else shapely.to_wkb(geometry)
        digest.update(code.encode() + b"\0" + hashlib.sha1(wkb).digest())
    return digest.hexdigest()
