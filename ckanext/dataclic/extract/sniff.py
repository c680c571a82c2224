"""Recognise what an input file is: format, text encoding, CSV dialect and header."""

from __future__ import annotations

import csv
import io
import itertools
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import N_, ExtractionError

SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 2000  # rows read to detect a profile
MAX_ZIP_UNCOMPRESSED = 4 << 30
MAX_ZIP_RATIO = 200
DELIMITERS = (";", ",", "\t", "|")

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".geojsonl": "geojsonseq",
    ".geojsons": "geojsonseq",
    ".ndjson": "geojsonseq",
    ".gpkg": "gpkg",
    ".shp": "shp",
    ".zip": "shp",
    ".fgb": "fgb",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
}


def sniff_format(path: Path) -> str:
    """The input format, from the file's first bytes, then its extension."""
    if not path.exists():
        raise ExtractionError(N_("Input file not found: {path}"), path=path)
    if path.is_dir():
        raise ExtractionError(N_("Input is a folder, not a file: {path}"), path=path)
    size = path.stat().st_size
    if size == 0:
        raise ExtractionError(N_("Input file is empty: {name}"), name=path.name)
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "shp"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"fgb\x03"):
        return "fgb"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head[:4] == b"\x00\x00\x27\x0a":
        return "shp"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExtractionError(N_(
            "The file is UTF-16 text; save it as UTF-8, latin-1 or cp1252 and try again"))
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if _looks_binary(head):
        raise ExtractionError(N_("{name} is not a recognised data file (binary content)"),
                              name=path.name)
    if text.startswith((b"{", b"[", b"\x1e")):
        return _sniff_json(path, text)
    ext = EXTENSIONS.get(path.suffix.lower())
    if ext in (None, "csv"):
        return "csv"
    raise ExtractionError(N_("{name} does not look like a {format} file"), name=path.name,
                          format=ext)


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls > max(4, len(head) // 50)


def _sniff_json(path: Path, text: bytes) -> str:
    if text.startswith(b"\x1e"):
        return "geojsonseq"
    if text.startswith(b"["):
        return "json"
    with path.open("rb") as fh:
        first = fh.readline(SAMPLE_BYTES).strip().lstrip(b"\xef\xbb\xbf")
        second = fh.readline(SAMPLE_BYTES).strip()
    if first.endswith(b"}") and second.startswith(b"{") and b'"Feature"' in first:
        return "geojsonseq"
    return "geojson"


def zip_members(path: Path) -> list[zipfile.ZipInfo]:
    """The files of a ZIP archive, after checking it is safe to unpack: no absolute or
    ``..`` paths, no decompression bomb, a capped total size."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExtractionError(N_("{name} is not a readable ZIP archive"),
                              name=path.name) from exc
    total = 0
    for info in infos:
        name = info.filename
        parts = Path(name).parts
        if name.startswith(("/", "\\")) or ".." in parts or ":" in name:
            raise ExtractionError(N_("{name} holds an unsafe path ({member}); refusing it"),
                                  name=path.name, member=name)
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_ZIP_RATIO and info.file_size > 10 << 20:
            raise ExtractionError(
                    N_("{name} looks like a decompression bomb ({member}); refusing it"),
                    name=path.name, member=name)
    if total > MAX_ZIP_UNCOMPRESSED:
        raise ExtractionError(
            N_("{name} would uncompress to {size} MiB, over the {limit} MiB limit"),
            name=path.name, size=total // (1 << 20), limit=MAX_ZIP_UNCOMPRESSED // (1 << 20))
    return [info for info in infos if not info.is_dir()]


def check_zip(path: Path) -> str:
    """Validate a ZIP archive and return the inner path of its shapefile."""
    shapefiles = [i.filename for i in zip_members(path) if i.filename.lower().endswith(".shp")]
    if not shapefiles:
        raise ExtractionError(N_("{name} holds no shapefile (.shp)"), name=path.name)
    return min(shapefiles)


@dataclass(frozen=True)
class CsvLayout:
    encoding: str
    delimiter: str
    header: list[str]
    data_offset: int
    sample_rows: list[list[str]]
    modal_width: int


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multibyte sequence cut at the end of the sample is still UTF-8.
        if exc.start >= len(sample) - 3:
            try:
                sample[: exc.start].decode("utf-8")
                return "utf-8"
            except UnicodeDecodeError:
                pass
    if any(0x80 <= b <= 0x9F for b in sample):
        try:
            sample.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            pass
    return "latin-1"


def check_encoding(encoding: str) -> str:
    import codecs

    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise ExtractionError(N_("Unknown text encoding: {encoding}"),
                              encoding=encoding) from exc


def _first_record_end(data: bytes) -> int:
    """Byte offset just after the first CSV record (quote-aware), or -1."""
    inside = False
    for i, b in enumerate(data):
        if b == 34:
            inside = not inside
        elif b == 10 and not inside:
            return i + 1
    return -1


def detect_delimiter(lines: list[str]) -> str:
    best, best_score = ",", -1.0
    for delim in DELIMITERS:
        widths = [len(r) for r in csv.reader(lines, delimiter=delim)]
        if not widths or widths[0] < 2:
            continue
        agree = sum(1 for w in widths if w == widths[0]) / len(widths)
        score = agree * 1000 + min(widths[0], 999)
        if score > best_score:
            best, best_score = delim, score
    return best


def read_csv_layout(
    path: Path, encoding: str | None = None, delimiter: str | None = None
) -> CsvLayout:
    """The encoding, delimiter, header and first rows of a CSV file. Remembered for this
    version of the file: profile detection and the extraction both need it."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, encoding, delimiter)
    layout = _LAYOUTS.get(key)
    if layout is None:
        layout = _read_csv_layout(path, encoding, delimiter)
        if len(_LAYOUTS) > 32:
            _LAYOUTS.clear()
        _LAYOUTS[key] = layout
    return layout


_LAYOUTS: dict[tuple[str, int, int, str | None, str | None], CsvLayout] = {}


def _read_csv_layout(path: Path, encoding: str | None, delimiter: str | None) -> CsvLayout:
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if encoding:
        encoding = check_encoding(encoding)
        if encoding == "utf-8" and sample.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8-sig"
    else:
        encoding = detect_encoding(sample)
    bom = 3 if sample.startswith(b"\xef\xbb\xbf") else 0
    end = _first_record_end(sample[bom:])
    if end < 0:
        if len(sample) < SAMPLE_BYTES:
            end = len(sample) - bom
        else:
            raise ExtractionError(N_("{name}: no line break in the first MiB; not a CSV file"),
                                  name=path.name)
    data_offset = bom + end
    if len(sample) == SAMPLE_BYTES:
        cut = sample.rfind(b"\n")
        sample = sample[: cut + 1] if cut > data_offset else sample
    try:
        text = sample[bom:].decode(encoding.replace("-sig", ""), errors="strict")
    except UnicodeDecodeError as exc:
        raise ExtractionError(N_("{name} is not valid {encoding} text"), name=path.name,
                              encoding=encoding) from exc
    lines = text.splitlines(keepends=True)[:200]
    if delimiter:
        if delimiter in ("\\t", "tab"):
            delimiter = "\t"
        if len(delimiter) != 1:
            raise ExtractionError(N_("The CSV delimiter must be one character, not {delimiter}"),
                                  delimiter=repr(delimiter))
    else:
        delimiter = detect_delimiter(lines[:50])
    # The header and the sample rows only: parsing the whole MiB costs tens of ms.
    rows = list(itertools.islice(csv.reader(io.StringIO(text), delimiter=delimiter),
                                 SAMPLE_ROWS + 1))
    if not rows or not any(c.strip() for c in rows[0]):
        raise ExtractionError(N_("{name} has no header line"), name=path.name)
    header = [c.strip() for c in rows[0]]
    sample_rows = [r for r in rows[1:] if r]
    widths: dict[int, int] = {}
    for r in sample_rows:
        widths[len(r)] = widths.get(len(r), 0) + 1
    modal = max(widths, key=lambda w: widths[w]) if widths else len(header)
    return CsvLayout(encoding, delimiter, header, data_offset, sample_rows, modal)


def file_size(path: Path) -> int:
    return os.stat(path).st_size
