"""Other sources of the referential: COG tables as JSON, operator contour files or URLs."""
from __future__ import annotations

import gzip
import json
import shutil
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .referential import Referential
from .units import ContourSource

TYPE_CODES = {
    "commune-actuelle": "COM",
    "commune-deleguee": "COMD",
    "commune-associee": "COMA",
    "arrondissement-municipal": "ARM",
}

# Columns holding the INSEE code in the usual contour files: IGN ADMIN EXPRESS (INSEE_COM,
# INSEE_ARM), Etalab "contours administratifs" (code), Opendatasoft georef (com_code).
CODE_COLUMNS = ("INSEE_COM", "INSEE_ARM", "insee_com", "code_insee", "codgeo", "com_code",
                "code", "insee", "INSEE", "CODE")

MAX_DOWNLOAD_BYTES = 2 * 1024**3
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60


class ContourSourceError(ValueError):
    """A contour file or URL that cannot be read; the referential in use is unchanged."""


def compact_cog_tables(
    tables: dict[str, list[dict]], *, vintage: str, epci_names: dict[str, str] | None = None
) -> dict[str, Any]:
    """Turn ``@etalab/decoupage-administratif`` JSON tables into the compact embedded form."""
    epci_names = epci_names or {}
    return {
        "format": 1,
        "vintage": vintage,
        "communes": [
            [
                e["code"],
                TYPE_CODES[e["type"]],
                e["nom"],
                e["departement"],
                e["region"],
                e.get("chefLieu") or e.get("commune") or "",
                e.get("population") or 0,
                e.get("codesPostaux", []),
                e.get("anciensCodes", []),
                e.get("siren", ""),
            ]
            for e in tables["communes"]
        ],
        "epci": [
            [
                e["code"],
                epci_names.get(e["code"], e["nom"]),
                e["type"],
                e.get("populationMunicipale") or 0,
                [m["code"] for m in e["membres"]],
            ]
            for e in tables["epci"]
        ],
        "departements": [[d["code"], d["nom"], d["region"]] for d in tables["departements"]],
        "regions": [[r["code"], r["nom"]] for r in tables["regions"]],
    }


def referential_from_decoupage(directory: Path | str, *, vintage: str) -> Referential:
    """A referential from a folder of ``communes.json``, ``epci.json``… (no contours)."""
    folder = Path(directory)
    tables = {}
    for name in ("communes", "epci", "departements", "regions"):
        try:
            tables[name] = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ContourSourceError(f"Cannot read COG table {name}.json in {folder}: {error}")
    return Referential.from_cog_tables(compact_cog_tables(tables, vintage=vintage))


def _download(url: str, target: Path) -> None:
    import requests

    try:
        with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)) as resp:
            resp.raise_for_status()
            size = 0
            with open(target, "wb") as fh:
                for chunk in resp.iter_content(1 << 20):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise ContourSourceError(
                            f"Contour download {url} exceeds {MAX_DOWNLOAD_BYTES} bytes"
                        )
                    fh.write(chunk)
    except requests.RequestException as error:
        raise ContourSourceError(f"Cannot download contours from {url}: {error}") from error


def _gunzip(source: Path, target: Path) -> None:
    try:
        with gzip.open(source, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError, zlib.error) as error:
        raise ContourSourceError(
            f"Compressed contour file {source.name} is corrupt or truncated: {error}"
        ) from error


def _code_column(columns: Iterable[str], wanted: str | None) -> str:
    names = list(columns)
    if wanted:
        if wanted not in names:
            raise ContourSourceError(
                f"Column {wanted!r} not found in the contour file (columns: {', '.join(names)})"
            )
        return wanted
    for candidate in CODE_COLUMNS:
        if candidate in names:
            return candidate
    raise ContourSourceError(
        "No INSEE code column in the contour file; expected one of "
        f"{', '.join(CODE_COLUMNS)} (columns: {', '.join(names)})"
    )


def read_contour_file(
    source: str | Path,
    referential: Referential,
    *,
    vintage: str | None = None,
    code_column: str | None = None,
) -> tuple[dict[str, Any], ContourSource]:
    """Read finer commune contours (GeoJSON, GeoPackage, Shapefile…, maybe gzipped, or a URL).

    Codes are mapped to today's communes: contours of communes that merged since the file's
    vintage are united. Raises ContourSourceError for an unreadable, corrupt or truncated file.
    """
    import pyogrio
    import shapely

    text = str(source)
    with tempfile.TemporaryDirectory(prefix="dataclic-contours-") as tmp:
        path = Path(text)
        if text.startswith(("http://", "https://")):
            suffix = "".join(Path(text.split("?")[0]).suffixes[-2:]) or ".geojson"
            path = Path(tmp) / f"download{suffix}"
            _download(text, path)
        elif not path.is_file():
            raise ContourSourceError(f"Contour file {text} does not exist")
        with open(path, "rb") as fh:
            magic = fh.read(2)
        if magic == b"\x1f\x8b":
            inner = path.name[:-3] if path.name.endswith(".gz") else path.name + ".geojson"
            unpacked = Path(tmp) / inner
            _gunzip(path, unpacked)
            path = unpacked
        try:
            frame = pyogrio.read_dataframe(path)
        except Exception as error:  # pyogrio raises several GDAL-specific errors
            raise ContourSourceError(
                f"Cannot read contour file {Path(text).name}: it is corrupt, truncated or not a "
                f"vector format ({error})"
            ) from error
    if frame.empty:
        raise ContourSourceError(f"Contour file {Path(text).name} has no feature")
    column = _code_column(frame.columns, code_column)
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    grouped: dict[str, list[Any]] = {}
    for code, geometry in zip(frame[column].astype(str), frame.geometry):
        if geometry is None or geometry.is_empty:
            continue
        key = code.strip()
        if key not in referential.arrondissements:
            commune = referential.current_commune(key)
            if commune is None:
                continue
            key = commune.code
        grouped.setdefault(key, []).append(geometry)
    if not grouped:
        raise ContourSourceError(
            f"No feature of {Path(text).name} has a known commune code in column {column!r}"
        )
    contours = {}
    for code, parts in grouped.items():
        merged = parts[0] if len(parts) == 1 else shapely.union_all(parts)
        if not merged.is_valid:
            merged = shapely.make_valid(merged)
        contours[code] = merged
    label = vintage or Path(text.split("?")[0]).name
    return contours, ContourSource(text, label, len(contours))


def load_contours(
    referential: Referential,
    source: str | Path,
    *,
    vintage: str | None = None,
    code_column: str | None = None,
) -> Referential:
    """A new referential with the contours of ``source`` over those of ``referential``.

    ``referential`` itself is never modified, so a failed load leaves it in use.
    """
    contours, origin = read_contour_file(
        source, referential, vintage=vintage, code_column=code_column
    )
    return referential.with_contours(contours, origin)
