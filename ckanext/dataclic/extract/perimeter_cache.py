"""A small on-disk cache of resolved perimeters for the console script.

Loading the embedded referential (COG tables, then the perimeter's commune contours for
the first geometry) takes about a second, more than a whole indexed or GeoPackage extraction. The
console script only needs, for one perimeter: its codes, communes and geometry, the set of
known commune codes, and the communes its codes map to. Those are stored once per
(perimeter, embedded data version) under ``$DATACLIC_CACHE_DIR`` (default
``~/.cache/dataclic``) and read back in milliseconds. The cache is keyed by the size and
modification time of the embedded data files, so an upgrade of the referential is picked
up at once. Library callers (CKAN) pass their own referential and do not use it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .codes import KEY_SPACE, code_key, key_code

CACHE_VERSION = 1


def cache_dir() -> Path:
    env = os.environ.get("DATACLIC_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dataclic"


def data_fingerprint() -> str | None:
    """Identifies the embedded referential's data files without importing it."""
    spec = importlib.util.find_spec("ckanext.dataclic.territories")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "data"
    parts = [str(CACHE_VERSION)]
    try:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name != "README.md":
                st = path.stat()
                parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    except OSError:
        return None
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CachedCommune:
    code: str
    name: str
    epci_siren: str | None
    epci_name: str | None
    departement_code: str | None
    region_code: str | None


@dataclass
class CachedPerimeter:
    id: str
    kind: str
    code: str
    name: str
    vintage: str
    codes: frozenset[str]
    communes: tuple[str, ...]
    geometry_wkb: bytes
    _geometry: Any = field(default=None, repr=False)

    @property
    def geometry(self) -> Any:
        if self._geometry is None:
            import shapely

            self._geometry = shapely.from_wkb(self.geometry_wkb)
        return self._geometry

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.geometry.bounds)  # type: ignore[return-value]

    def geometry_in(self, crs: str) -> Any:
        """The geometry in ``crs`` (valid), kept in the cache beside the entry: setting up
        a coordinate transformation costs more than a small extraction."""
        import shapely

        from .spatial import perimeter_in

        fingerprint = data_fingerprint()
        path = _entry_path(self.id, fingerprint or "").with_suffix(
            "." + "".join(c if c.isalnum() else "_" for c in crs) + ".wkb")
        if fingerprint is not None:
            try:
                return shapely.from_wkb(path.read_bytes())
            except (OSError, shapely.errors.GEOSException):
                pass
        geometry = perimeter_in(self.geometry, crs)
        if fingerprint is not None:
            try:
                _write_atomic(path, shapely.to_wkb(geometry))
            except OSError:
                pass
        return geometry


class CachedReferential:
    """The parts of the referential an extraction of one perimeter needs."""

    def __init__(self, vintage: str, known: bytes, communes: dict[str, CachedCommune],
                 commune_wkb: dict[str, bytes]) -> None:
        import numpy as np

        self.vintage = vintage
        self.known = np.unpackbits(np.frombuffer(known, dtype=np.uint8))[:KEY_SPACE].astype(bool)
        self.communes = communes
        self.commune_wkb = commune_wkb

    def normalise_code(self, code: str, *, pad: bool = True) -> str:
        text = code.strip().upper()
        if pad and len(text) == 4 and text.isdigit():
            text = "0" + text
        return text

    def is_known_code(self, code: str, *, pad: bool = True) -> bool:
        key = code_key(self.normalise_code(code, pad=pad))
        return key >= 0 and bool(self.known[key])

    def current_commune(self, code: str, *, pad: bool = True) -> CachedCommune | None:
        return self.communes.get(self.normalise_code(code, pad=pad))

    def resolve(self, perimeter_id: str) -> Any:
        kind, _, code = perimeter_id.partition(":")
        if kind == "commune" and code in self.commune_wkb:
            import shapely

            com = self.communes[code]
            geometry = shapely.from_wkb(self.commune_wkb[code])
            return CachedPerimeter(perimeter_id, "commune", code, com.name, self.vintage,
                                   frozenset([code]), (code,), b"", geometry)
        raise ValueError(f"{perimeter_id} is not in the perimeter cache")


def _entry_path(perimeter_id: str, fingerprint: str) -> Path:
    safe = "".join(c if c.isalnum() else "_" for c in perimeter_id)
    return cache_dir() / fingerprint / f"{safe}.json"


def load(perimeter_id: str) -> tuple[CachedReferential, CachedPerimeter] | None:
    fingerprint = data_fingerprint()
    if fingerprint is None:
        return None
    try:
        data = json.loads(_entry_path(perimeter_id, fingerprint).read_text(encoding="utf-8"))
        known = base64.b64decode((cache_dir() / fingerprint / "known.b64").read_bytes())
    except (OSError, ValueError):
        return None
    communes = {c: CachedCommune(*v) for c, v in data["communes_info"].items()}
    commune_wkb = {c: base64.b64decode(v) for c, v in data["commune_wkb"].items()}
    ref = CachedReferential(data["vintage"], known, communes, commune_wkb)
    per = CachedPerimeter(data["id"], data["kind"], data["code"], data["name"],
                          data["vintage"], frozenset(data["codes"]), tuple(data["communes"]),
                          base64.b64decode(data["geometry"]))
    return ref, per


def store(referential: Any, perimeter: Any, alias: str | None = None) -> None:
    """Save what an extraction of ``perimeter`` needs; silently skipped if not writable."""
    import numpy as np
    import shapely

    fingerprint = data_fingerprint()
    if fingerprint is None:
        return
    folder = cache_dir() / fingerprint
    try:
        folder.mkdir(parents=True, exist_ok=True)
        known_path = folder / "known.b64"
        if not known_path.exists():
            known = np.zeros(KEY_SPACE, dtype=bool)
            for key in range(KEY_SPACE):
                known[key] = referential.is_known_code(key_code(key))
            _write_atomic(known_path, base64.b64encode(np.packbits(known).tobytes()))
        info: dict[str, list[Any]] = {}
        for code in sorted(perimeter.codes):
            com = referential.current_commune(code)
            if com is not None:
                info[code] = [com.code, com.name, com.epci_siren, com.epci_name,
                              com.departement_code, com.region_code]
                if com.code not in info:
                    info[com.code] = [com.code, com.name, com.epci_siren, com.epci_name,
                                      com.departement_code, com.region_code]
        geometry = perimeter.geometry  # loads the communes' contours at once
        commune_wkb: dict[str, str] = {}
        if len(perimeter.communes) <= 1000:
            for code in perimeter.communes:
                geom = referential.resolve(f"commune:{code}").geometry
                commune_wkb[code] = base64.b64encode(shapely.to_wkb(geom)).decode()
        data = {
            "id": perimeter.id, "kind": perimeter.kind, "code": perimeter.code,
            "name": perimeter.name, "vintage": str(getattr(perimeter, "vintage", "")),
            "codes": sorted(perimeter.codes), "communes": list(perimeter.communes),
            "geometry": base64.b64encode(shapely.to_wkb(geometry)).decode(),
            "communes_info": info, "commune_wkb": commune_wkb,
        }
        payload = json.dumps(data).encode()
        _write_atomic(_entry_path(perimeter.id, fingerprint), payload)
        if alias and alias != perimeter.id:
            _write_atomic(_entry_path(alias, fingerprint), payload)
    except OSError:
        return


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
