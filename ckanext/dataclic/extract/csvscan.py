"""Streaming CSV filter by commune code.

One pass over raw bytes, in chunks: NumPy finds record boundaries and delimiters (outside
quotes), reads only the code field of each record, classifies it with an array lookup, and
hands back the raw bytes of the matching records. Nothing else is parsed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .codes import CodeClassifier, count_unknown, key_code, keys_from_bytes
from .errors import N_, ExtractionError
from .report import ExtractionReport

if TYPE_CHECKING:
    import numpy as np

CHUNK_BYTES = 2 << 20  # measured best on W1: arrays stay in cache
MAX_RECORD_BYTES = 64 << 20
Progress = Callable[[int, int], None]
# (file offsets, lengths, code keys (-1: not a plain code), [(row, value) of those])
RowSink = Callable[["np.ndarray", "np.ndarray", "np.ndarray", list[tuple[int, str]]], None]


@dataclass
class KeptChunk:
    records: list[bytes]
    codes: list[str]  # the normalised code of each kept record


def _record_chunks(path: Path, offset: int,
                   chunk: int) -> Iterator[tuple[int, bytes, int, bool]]:
    """(file offset, bytes, end, last) pieces of the file: ``bytes[:end]`` stops after the
    piece's last newline, and the next piece is read from there, so that a piece normally
    starts at a record boundary (a newline inside a quoted field can fool the cut: the scan
    detects it and re-reads that piece with the one before). Nothing is copied but the
    read itself."""
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = offset
        size = chunk
        while True:
            data = os.pread(fd, size, pos)
            if len(data) < size:
                if data and not data.endswith(b"\n"):
                    data += b"\n"
                yield pos, data, len(data), True
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                if size > MAX_RECORD_BYTES:
                    raise ExtractionError(N_("{name}: a line longer than {size} MiB"),
                                          name=path.name, size=MAX_RECORD_BYTES >> 20)
                size *= 2
                continue
            yield pos, data, cut + 1, False
            pos += cut + 1
            size = chunk
    finally:
        os.close(fd)


@dataclass
class ScannedChunk:
    """Records of a buffer that starts at a record boundary, and their code field."""

    buf: bytes
    arr: np.ndarray
    starts: np.ndarray
    ends: np.ndarray  # position of each record's newline
    fstart: np.ndarray
    fend: np.ndarray
    keys: np.ndarray
    mismatched: int
    tail: int  # bytes from here on belong to a record that continues in the next chunk


def _outside_quotes(pos: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """The positions not inside a quoted field. Quotes pair up as open/close (an escaped
    quote "" closes and reopens), so the inside is the union of (q0,q1), (q2,q3), …; an
    unpaired last quote runs to the end of the buffer."""
    import numpy as np

    lo = np.searchsorted(pos, quotes[0::2])
    hi = np.searchsorted(pos, quotes[1::2])
    if hi.size < lo.size:
        hi = np.append(hi, pos.size)
    inside = hi > lo
    if not inside.any():
        return pos
    lo, span = lo[inside], (hi - lo)[inside]
    # The indices lo..hi-1 of every run, without a Python loop.
    run_start = np.repeat(lo - np.cumsum(span) + span, span)
    keep = np.ones(pos.size, dtype=bool)
    keep[run_start + np.arange(int(span.sum()))] = False
    return pos[keep]


@dataclass
class Records:
    """The record structure of a buffer: delimiter/newline positions outside quotes, and
    for each (non-empty) record its start, newline, content end, the index in ``pos`` of
    its first delimiter and its delimiter count."""

    arr: np.ndarray
    pos: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    content_end: np.ndarray
    first: np.ndarray
    count: np.ndarray
    tail: int  # bytes from here on belong to a record that continues in the next chunk

    def field(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of field ``k`` of every record, without its surrounding quotes;
        an empty range where the record has fewer fields."""
        import numpy as np

        has_field = self.count >= k
        top = self.pos.size - 1
        if k == 0:
            fstart = self.starts
        else:
            fstart = self.pos[np.minimum(self.first + (k - 1), top)] + 1
        fend = np.where(self.count > k, self.pos[np.minimum(self.first + k, top)],
                        self.content_end)
        fstart = np.where(has_field, fstart, self.starts)
        fend = np.where(has_field, fend, self.starts)
        arr = self.arr
        quoted = (arr[np.minimum(fstart, arr.size - 1)] == 34) & (fend - fstart >= 2)
        if quoted.any():
            fstart = np.where(quoted, fstart + 1, fstart)
            fend = np.where(quoted, fend - 1, fend)
        return fstart, fend


def record_structure(buf: bytes, end: int, delim: int) -> Records | None:
    """The records of ``buf[:end]`` (None when it holds no complete record). NumPy
    releases the GIL, so two buffers are scanned at once on two cores.

    One pass finds every delimiter and newline; one is inside a quoted field when an odd
    number of quotes precede it (an escaped quote "" counts twice). The record structure
    then comes from the positions alone: record r's delimiters are the entries between its
    newline and the previous one."""
    import numpy as np

    arr = np.frombuffer(buf, dtype=np.uint8, count=end)
    mask = arr == delim
    mask |= arr == 10
    pos = np.flatnonzero(mask)
    if buf.find(b'"', 0, end) >= 0:
        pos = _outside_quotes(pos, np.flatnonzero(arr == 34))
    kind = arr[pos]
    nl_at = np.flatnonzero(kind == 10)  # index in ``pos`` of each record's newline
    if nl_at.size == 0:
        return None
    ends = pos[nl_at]
    last = int(ends[-1])
    first = np.empty(nl_at.size, dtype=np.int64)
    first[0] = 0
    first[1:] = nl_at[:-1] + 1
    count = nl_at - first
    starts = np.empty(nl_at.size, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    # An end that follows a carriage return ends before it.
    cr = arr[np.maximum(ends - 1, 0)] == 13
    content_end = np.where(cr & (ends > starts), ends - 1, ends)
    nonempty = content_end > starts
    if not nonempty.all():
        starts, ends, content_end = starts[nonempty], ends[nonempty], content_end[nonempty]
        first, count = first[nonempty], count[nonempty]
    return Records(arr, pos, starts, ends, content_end, first, count, last + 1)


def _scan_records(buf: bytes, end: int, delim: int, k: int, header_width: int,
                  slice_start: int, sliced: bool) -> ScannedChunk:
    """The records of one buffer and the integer key of their code field ``k``."""
    import numpy as np

    rec = record_structure(buf, end, delim)
    if rec is None:
        empty = np.empty(0, dtype=np.int64)
        return ScannedChunk(buf, None, empty, empty, empty, empty, empty, 0, 0)
    mismatched = int(np.count_nonzero(rec.count != header_width - 1))
    fstart, fend = rec.field(k)
    keys = keys_from_bytes(rec.arr, fstart + slice_start, fend - fstart - slice_start,
                           sliced=sliced)
    return ScannedChunk(buf, rec.arr, rec.starts, rec.ends, fstart, fend, keys, mismatched,
                        rec.tail)


def _scanned(path: Path, offset: int, chunk: int, scan: Callable[[bytes, int], Any],
             total: int, progress: Progress | None) -> Iterator[tuple[int, Any, bool]]:
    """Scanned chunks in file order, two in flight on a thread pool."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        pending: deque = deque()
        pieces = _record_chunks(path, offset, chunk)
        exhausted = False
        carry = b""
        carry_pos = offset
        while True:
            while not exhausted and len(pending) < 3:
                item = next(pieces, None)
                if item is None:
                    exhausted = True
                    break
                pos, data, end, last = item
                pending.append((pos, data, end, last, pool.submit(scan, data, end)))
                exhausted = last
            if not pending:
                return
            pos, data, end, last, fut = pending.popleft()
            if carry:
                # The previous chunk ended inside a quoted field: this one did not start at
                # a record boundary, so scan it again behind the unfinished record.
                fut.cancel()
                pos, data = carry_pos, carry + data[:end]
                end = len(data)
                if end > MAX_RECORD_BYTES + chunk:
                    raise ExtractionError(
                        N_("{name}: a record longer than {size} MiB (an unbalanced quote?)"),
                        name=path.name, size=MAX_RECORD_BYTES >> 20)
                result = scan(data, end)
            else:
                result = fut.result()
            carry = data[result.tail:end]
            carry_pos = pos + result.tail
            if progress:
                progress(min(pos + end, total), total)
            yield pos, result, last
            if last:
                if carry.strip():
                    yield carry_pos, ScannedChunk(carry, None, *([None] * 5), 0, -1), True
                return


def filter_csv_by_code(
    path: Path,
    *,
    data_offset: int,
    delimiter: str,
    code_index: int,
    header_width: int,
    code_slice: tuple[int, int] | None,
    classifier: CodeClassifier,
    report: ExtractionReport,
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    every_row: RowSink | None = None,
) -> Iterator[KeptChunk]:
    """Yield the records whose code is in the perimeter. ``every_row``, when given, also
    receives the file offset, length and code key of every record (to build an index)."""
    import numpy as np

    total = path.stat().st_size
    sliced = code_slice is not None
    slice_start = code_slice[0] if code_slice else 0

    def scan(buf: bytes, end: int) -> ScannedChunk:
        return _scan_records(buf, end, ord(delimiter), code_index, header_width, slice_start,
                             sliced)

    unknown: Counter[str] = Counter()
    for buf_base, sc, _ in _scanned(path, data_offset, chunk_bytes, scan, total, progress):
        if sc.tail < 0:
            _warn_unterminated(report, sc.buf)
            break
        if sc.starts.size == 0:
            continue
        buf, keys, starts, ends = sc.buf, sc.keys, sc.starts, sc.ends
        fstart, fend = sc.fstart, sc.fend
        report.rows_read += starts.size
        report.rows_field_count_mismatch += sc.mismatched
        fast = keys >= 0
        classifier.learn(keys[fast])
        safe = np.where(fast, keys, 0)
        status = classifier.status[safe]
        inside = fast & classifier.inside[safe]
        unknown_mask = fast & (status == 2)
        unknown.update(count_unknown(keys, unknown_mask))
        report.rows_unknown_code += int(np.count_nonzero(unknown_mask))
        kept_rows = np.flatnonzero(inside)
        codes = [key_code(kk) for kk in keys[kept_rows].tolist()]
        # Values that are not a plain 4/5-digit code: empty, spaced, other spellings.
        odd = np.flatnonzero(~fast)
        extra_rows: list[int] = []
        extra_codes: list[str] = []
        odd_values: list[tuple[int, int, str]] = []
        if odd.size:
            for i, s, e in zip(odd.tolist(), fstart[odd].tolist(), fend[odd].tolist(),
                               strict=True):
                raw = buf[s:e].decode("latin-1")
                value = raw[slice_start:code_slice[1]] if sliced else raw
                key, known, norm = classifier.classify_text(value)
                if every_row is not None:
                    odd_values.append((i, key, norm))
                if key >= 0 and classifier.inside[key] or key < 0 and known and (
                        norm in classifier.perimeter_codes):
                    extra_rows.append(i)
                    extra_codes.append(key_code(key) if key >= 0 else norm)
                elif not known:
                    report.rows_unknown_code += 1
                    unknown[value.strip()] += 1
        if extra_rows:
            order = np.argsort(np.concatenate([kept_rows, np.array(extra_rows)]), kind="stable")
            merged_rows = np.concatenate([kept_rows, np.array(extra_rows)])[order]
            merged_codes = codes + extra_codes
            codes = [merged_codes[j] for j in order.tolist()]
            kept_rows = merged_rows
        if every_row is not None:
            all_keys = keys.copy()
            for i, key, _norm in odd_values:
                all_keys[i] = key
            odd_text = [(i, norm) for i, key, norm in odd_values if key < 0]
            every_row(starts + buf_base, ends - starts + 1, all_keys, odd_text)
        if kept_rows.size:
            ks = starts[kept_rows].tolist()
            ke = ends[kept_rows].tolist()
            records = [buf[s:e + 1] for s, e in zip(ks, ke, strict=True)]
            yield KeptChunk(records, codes)
    report.add_unknown(unknown)


def record_spans(path: Path, *, data_offset: int, delimiter: str, header_width: int,
                 report: ExtractionReport, progress: Progress | None = None,
                 chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(file offsets, lengths) of every record, chunk by chunk, with no code lookup: what
    a point index needs."""

    def scan(buf: bytes, end: int) -> ScannedChunk:
        return _scan_records(buf, end, ord(delimiter), 0, header_width, 0, False)

    for buf_base, sc, _ in _scanned(path, data_offset, chunk_bytes, scan,
                                    path.stat().st_size, progress):
        if sc.tail < 0:
            _warn_unterminated(report, sc.buf)
            break
        if sc.starts.size == 0:
            continue
        report.rows_read += sc.starts.size
        report.rows_field_count_mismatch += sc.mismatched
        yield sc.starts + buf_base, sc.ends - sc.starts + 1


def _warn_unterminated(report: ExtractionReport, rest: bytes) -> None:
    if rest.strip():
        report.warn(f"the file ends inside a quoted field (an unbalanced quote); the last "
                    f"{len(rest)} bytes were skipped")
