"""Streaming CSV selection of points (lat/lon columns, or one "lat, lon" column).

The same raw-byte pass as the code filter (csvscan): the record structure comes from the
delimiter and newline positions; only the coordinate fields are gathered and parsed (by
Arrow, in the scanning threads), the points are tested against the perimeter, and the
matching records are handed back as raw bytes. Nothing else of the file is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .csvscan import CHUNK_BYTES, _scanned, _warn_unterminated, record_structure
from .decimals import integer_bounds, parse_decimals
from .report import ExtractionReport

Progress = Callable[[int, int], None]


@dataclass
class PointChunk:
    buf: bytes
    starts: Any
    ends: Any
    located: _Located | None
    mismatched: int
    tail: int


def _field_text(arr: Any, start: Any, end: Any) -> tuple[Any, bool]:
    """The bytes of one field of every record, as an Arrow string array, and whether any
    holds a comma (a decimal comma)."""
    import numpy as np
    import pyarrow as pa

    lens = np.maximum(end - start, 0)
    offsets = np.zeros(lens.size + 1, dtype=np.int32)
    np.cumsum(lens, out=offsets[1:])
    idx = np.repeat(start - offsets[:-1], lens) + np.arange(int(offsets[-1]))
    data = arr[idx]
    comma = bool(np.any(data == 44))
    if not np.any(data >= 128):  # ASCII: valid UTF-8 as it is
        return pa.StringArray.from_buffers(lens.size, pa.py_buffer(offsets),
                                           pa.py_buffer(data)), comma
    raw = pa.BinaryArray.from_buffers(pa.binary(), lens.size, [None, pa.py_buffer(offsets),
                                                                pa.py_buffer(data)])
    try:
        return raw.cast(pa.string()), comma
    except pa.ArrowInvalid:  # not UTF-8 (a latin-1 file): numbers are ASCII anyway
        return pa.array([b.decode("latin-1") for b in raw.to_pylist()],
                        type=pa.string()), comma


_FEW = 256  # below this many odd values, Python's float() beats loading Arrow


def _parse_each(arr: Any, start: Any, end: Any) -> Any:
    """float() of each field (decimal comma allowed, NaN when not a number)."""
    import numpy as np

    out = np.full(start.size, np.nan)
    for i, (s, e) in enumerate(zip(start.tolist(), end.tolist(), strict=True)):
        text = arr[s:e].tobytes().decode("latin-1").strip().replace(",", ".")
        if text and "_" not in text:
            try:
                out[i] = float(text)
            except ValueError:
                pass
    return out


def _parsed(arr: Any, start: Any, end: Any) -> Any:
    """Exact float64 values of one field of the given records (NaN: not a number)."""
    import numpy as np

    from .readers import _to_float

    values, other = parse_decimals(arr, start, end)
    if other.any():
        rows = np.flatnonzero(other)
        if rows.size <= _FEW:
            values[rows] = _parse_each(arr, start[rows], end[rows])
        else:
            values[rows] = _to_float(*_field_text(arr, start[rows], end[rows]))
    return values


def _point_coordinates(rec: Any, point: int) -> tuple[Any, Any]:
    """(x, y) of every record from one "lat, lon" text field."""
    from .readers import _point_text

    return _point_text(_field_text(rec.arr, *rec.field(point))[0])


@dataclass
class _Located:
    rows: Any  # records with usable coordinates that may be inside the perimeter
    x: Any
    y: Any
    missing: int  # records without usable coordinates (out of range included)
    out_of_range: int


def _check(x: Any, y: Any, limits: tuple[float, float, float, float] | None) -> tuple[
        Any, int, int]:
    """(usable mask, missing count, out-of-range count) of exact coordinates."""
    import numpy as np

    missing = np.isnan(x) | np.isnan(y)
    out_count = 0
    if limits is not None:
        minx, miny, maxx, maxy = limits
        with np.errstate(invalid="ignore"):
            out = ~missing & ((x < minx) | (x > maxx) | (y < miny) | (y > maxy))
        out_count = int(np.count_nonzero(out))
        missing |= out
    return ~missing, int(np.count_nonzero(missing)), out_count


def _locate(rec: Any, lat: int, lon: int, box: tuple[float, float, float, float],
            limits: tuple[float, float, float, float] | None) -> _Located:
    """Coordinates of the records that may fall in ``box``. A first pass bounds every
    value by its integer part; only records whose bounds meet the box (or straddle the
    CRS limits, or are not plain decimals) are parsed exactly. The others are either
    surely outside the box or surely out of range, and are only counted."""
    import numpy as np

    arr = rec.arr
    xs, xe = rec.field(lon)
    ys, ye = rec.field(lat)
    xlo, xhi, xok = integer_bounds(arr, xs, xe)
    ylo, yhi, yok = integer_bounds(arr, ys, ye)
    sure = xok & yok
    minx, miny, maxx, maxy = box
    near = (xhi >= minx) & (xlo <= maxx) & (yhi >= miny) & (ylo <= maxy)
    out_sure = np.zeros(sure.size, dtype=bool)
    if limits is not None:
        lminx, lminy, lmaxx, lmaxy = limits
        out_sure = sure & ((xhi < lminx) | (xlo > lmaxx) | (yhi < lminy) | (ylo > lmaxy))
        in_sure = (xlo >= lminx) & (xhi <= lmaxx) & (ylo >= lminy) & (yhi <= lmaxy)
        near |= ~in_sure
    exact = np.flatnonzero(~sure | (near & ~out_sure))
    out_count = int(np.count_nonzero(out_sure))
    x = _parsed(arr, xs[exact], xe[exact])
    y = _parsed(arr, ys[exact], ye[exact])
    usable, missing, out_exact = _check(x, y, limits)
    return _Located(exact[usable], x[usable], y[usable], missing + out_count,
                    out_count + out_exact)


def filter_csv_points(
    path: Path,
    *,
    data_offset: int,
    delimiter: str,
    header_width: int,
    lat_index: int | None,
    lon_index: int | None,
    point_index: int | None,
    selection: Any,
    limits: tuple[float, float, float, float] | None,
    report: ExtractionReport,
    counters: dict[str, int],
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[tuple[list[bytes], Any, Any]]:
    """(records, x, y) of the points inside ``selection``, in file order. Rows without
    usable coordinates (empty, not a number, outside ``limits``) count as without
    geometry; ``counters["out_of_range"]`` counts those outside ``limits``."""
    import numpy as np

    box = selection.bounds

    def scan(buf: bytes, end: int) -> PointChunk:
        rec = record_structure(buf, end, ord(delimiter))
        if rec is None:
            empty = np.empty(0, dtype=np.int64)
            return PointChunk(buf, empty, empty, None, 0, 0)
        mismatched = int(np.count_nonzero(rec.count != header_width - 1))
        if point_index is None:
            assert lat_index is not None and lon_index is not None
            located = _locate(rec, lat_index, lon_index, box, limits)
        else:
            x, y = _point_coordinates(rec, point_index)
            usable, missing, out_count = _check(x, y, limits)
            rows = np.flatnonzero(usable)
            located = _Located(rows, x[rows], y[rows], missing, out_count)
        return PointChunk(buf, rec.starts, rec.ends, located, mismatched, rec.tail)

    for _, chunk, _ in _scanned(path, data_offset, chunk_bytes, scan, path.stat().st_size,
                                progress):
        if chunk.tail < 0:
            _warn_unterminated(report, chunk.buf)
            break
        if chunk.starts.size == 0:
            continue
        loc = chunk.located
        report.rows_read += chunk.starts.size
        report.rows_field_count_mismatch += chunk.mismatched
        report.rows_without_geometry += loc.missing
        if loc.out_of_range:
            counters["out_of_range"] = counters.get("out_of_range", 0) + loc.out_of_range
        inside = selection.mask_xy(loc.x, loc.y) if loc.rows.size else None
        if inside is not None and inside.any():
            keep = loc.rows[inside]
            buf = chunk.buf
            records = [buf[s:e + 1] for s, e in zip(chunk.starts[keep].tolist(),
                                                    chunk.ends[keep].tolist(), strict=True)]
            yield records, loc.x[inside], loc.y[inside]
