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
from .report import ExtractionReport

Progress = Callable[[int, int], None]


@dataclass
class PointChunk:
    buf: bytes
    starts: Any
    ends: Any
    x: Any
    y: Any
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


def _coordinates(arr: Any, rec: Any, lat: int | None, lon: int | None,
                 point: int | None) -> tuple[Any, Any]:
    from .readers import _point_text, _to_float

    if point is not None:
        return _point_text(_field_text(arr, *rec.field(point))[0])
    x = _to_float(*_field_text(arr, *rec.field(lon)))
    return x, _to_float(*_field_text(arr, *rec.field(lat)))


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

    def scan(buf: bytes, end: int) -> PointChunk:
        rec = record_structure(buf, end, ord(delimiter))
        if rec is None:
            empty = np.empty(0, dtype=np.int64)
            return PointChunk(buf, empty, empty, empty, empty, 0, 0)
        mismatched = int(np.count_nonzero(rec.count != header_width - 1))
        x, y = _coordinates(rec.arr, rec, lat_index, lon_index, point_index)
        return PointChunk(buf, rec.starts, rec.ends, x, y, mismatched, rec.tail)

    for _, chunk, _ in _scanned(path, data_offset, chunk_bytes, scan, path.stat().st_size,
                                progress):
        if chunk.tail < 0:
            _warn_unterminated(report, chunk.buf)
            break
        if chunk.starts.size == 0:
            continue
        x, y = chunk.x, chunk.y
        report.rows_read += x.size
        report.rows_field_count_mismatch += chunk.mismatched
        missing = np.isnan(x) | np.isnan(y)
        if limits is not None:
            minx, miny, maxx, maxy = limits
            with np.errstate(invalid="ignore"):
                out = ~missing & ((x < minx) | (x > maxx) | (y < miny) | (y > maxy))
            if out.any():
                counters["out_of_range"] = counters.get("out_of_range", 0) + int(out.sum())
                missing |= out
        report.rows_without_geometry += int(np.count_nonzero(missing))
        keep = np.flatnonzero(~missing)
        if keep.size:
            keep = keep[selection.mask_xy(x[keep], y[keep])]
        if keep.size:
            buf = chunk.buf
            records = [buf[s:e + 1] for s, e in zip(chunk.starts[keep].tolist(),
                                                    chunk.ends[keep].tolist(), strict=True)]
            yield records, x[keep], y[keep]
