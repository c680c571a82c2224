"""The local check of a territorial harvest: whatever the server filtered, every row or
feature it sent is checked against the perimeter with the extraction engine.

Plain Python (no CKAN import). Codes are matched with the referential (former codes,
communes déléguées and arrondissements included); geometries with the perimeter's contours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckanext.dataclic.extract.errors import ExtractionError
from ckanext.dataclic.extract.profile import ProfileOverrides

GEO_OUTPUTS = ("geojson", "gpkg")
SUFFIXES = {"csv": ".csv", "geojson": ".geojson", "gpkg": ".gpkg"}


class CutError(ValueError):
    """The staged answer cannot be checked against the perimeter; the message says why.
    ``error``: the engine's translatable error, when there is one."""

    def __init__(self, message: str, error: Any = None) -> None:
        super().__init__(message)
        self.error = error

    def render(self, translate: Callable[[str], str]) -> str:
        """The message through ``translate`` (the portal language in a harvest)."""
        return self.error.render(translate) if self.error is not None else str(self)


@dataclass
class CutResult:
    files: dict[str, Path] = field(default_factory=dict)  # output format → file
    rows_read: int = 0
    rows_kept: int = 0
    mode: str = ""
    profile: dict[str, Any] = field(default_factory=dict)
    data_hash: str = ""  # of the first output (GeoPackage bytes vary with write time)
    kind: str = "rows"  # "rows" (rows or features kept) or "grid" (per-commune statistics)
    extras: dict[str, str] = field(default_factory=dict)  # provenance beyond the common keys
    facts: dict[str, Any] = field(default_factory=dict)  # for the harvest object's log


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cut(
    staged: Path, perimeter: Any, referential: Any, folder: Path, outputs: tuple[str, ...], *,
    mode: str | None = None, overrides: ProfileOverrides | None = None,
) -> CutResult:
    """Cut ``staged`` to ``perimeter`` into each of ``outputs`` (``csv``, ``geojson``,
    ``gpkg``). CSV keeps the comma of the gathered file; geometry outputs are WGS84.
    Temporary outputs are removed when anything fails."""
    from ckanext.dataclic.extract import extract

    result = CutResult()
    made: list[Path] = []
    try:
        first = outputs[0]
        target = _temp_path(folder, SUFFIXES[first])
        made.append(target)
        try:
            done = extract(staged, perimeter, target, referential=referential, mode=mode,
                           overrides=overrides, delimiter=",", use_index=False)
        except ExtractionError as exc:
            raise CutError(str(exc)) from exc
        result.files[first] = target
        result.rows_read, result.rows_kept = done.report.rows_read, done.report.rows_kept
        result.mode = done.report.mode
        result.profile = done.profile.to_dict()
        result.data_hash = sha256(target)
        for other in outputs[1:]:
            path = _temp_path(folder, SUFFIXES[other])
            made.append(path)
            try:
                extract(target, perimeter, path, referential=referential, mode="intersects",
                        use_index=False)
            except ExtractionError as exc:
                raise CutError(str(exc)) from exc
            result.files[other] = path
        return result
    except BaseException:
        for path in made:
            path.unlink(missing_ok=True)
        raise


def _temp_path(folder: Path, suffix: str) -> Path:
    from .metered import new_file

    path = new_file(folder, suffix)
    path.unlink()  # the engine writes it atomically under this name
    return path


def code_overrides(columns: list[str], candidates: list[str]) -> ProfileOverrides | None:
    """Overrides naming the first candidate column present in ``columns``."""
    present = {c.lower(): c for c in columns}
    for name in candidates:
        if name and name.lower() in present:
            return ProfileOverrides(code_column=present[name.lower()])
    return None
