"""Streaming CSV filter by commune code.

One pass over raw bytes, in chunks: NumPy finds record boundaries and delimiters (outside
quotes), reads only the code field of each record, classifies it with an array lookup, and
hands back the raw bytes of the matching records. Nothing else is parsed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .codes import CodeClassifier, count_unknown, key_code, keys_from_bytes
from .errors import ExtractionError
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


def _read_chunks(path: Path, offset: int, chunk: int) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(offset)
        while True:
            data = fh.read(chunk)
            yield data
            if len(data) < chunk:
                return


def _scan_chunk(data: bytes, delim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of newlines, delimiters and quotes in a raw chunk (the per-byte work;
    NumPy releases the GIL here, so two chunks are scanned at once on two cores)."""
    import numpy as np

    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    de = np.flatnonzero(arr == delim)
    q = np.flatnonzero(arr == 34) if data.find(b'"') >= 0 else np.empty(0, dtype=np.intp)
    return nl, de, q


def _scanned_chunks(path: Path, offset: int, chunk: int, delim: int, total: int,
                    progress: Progress | None
                    ) -> Iterator[tuple[bytes, bool, tuple[np.ndarray, ...]]]:
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    done = offset
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending: deque = deque()
        chunks = _read_chunks(path, offset, chunk)
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2:
                data = next(chunks, None)
                if data is None:
                    exhausted = True
                    break
                pending.append((data, pool.submit(_scan_chunk, data, delim)))
                if len(data) < chunk:
                    exhausted = True
            if not pending:
                return
            data, fut = pending.popleft()
            done += len(data)
            if progress:
                progress(done, total)
            yield data, exhausted and not pending, fut.result()


def _outside_quotes(pos: np.ndarray, q: np.ndarray, size: int) -> np.ndarray:
    """The positions not inside a quoted field. Quotes pair up as open/close (an escaped
    quote "" closes and reopens), so the inside is the union of [q0,q1], [q2,q3], …"""
    import numpy as np

    if q.size == 0 or pos.size == 0:
        return pos
    a = q[0::2]
    b = q[1::2]
    if b.size < a.size:
        b = np.append(b, size)
    lo = np.searchsorted(pos, a)
    hi = np.searchsorted(pos, b)
    span = hi - lo
    n_inside = int(span.sum())
    if n_inside == 0:
        return pos
    # Indices lo..hi-1 of every interval, without a Python loop.
    has = span > 0
    lo, span = lo[has], span[has]
    idx = np.repeat(lo - np.concatenate([[0], np.cumsum(span)[:-1]]), span) + np.arange(n_inside)
    return np.delete(pos, idx)


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
    delim = ord(delimiter)
    k = code_index
    sliced = code_slice is not None
    slice_start = code_slice[0] if code_slice else 0
    empty = np.empty(0, dtype=np.intp)
    carry = b""
    base = data_offset  # file offset of the current buffer's first byte
    carry_pos = (empty, empty, empty)
    unknown: Counter[str] = Counter()
    for data, eof, (raw_nl, raw_de, raw_q) in _scanned_chunks(
            path, data_offset, chunk_bytes, delim, total, progress):
        off = len(carry)
        if off:
            buf = carry + data
            raw_nl = np.concatenate([carry_pos[0], raw_nl + off])
            raw_de = np.concatenate([carry_pos[1], raw_de + off])
            raw_q = np.concatenate([carry_pos[2], raw_q + off])
        else:
            buf = data
        if eof and buf and not buf.endswith(b"\n"):
            buf += b"\n"
            raw_nl = np.append(raw_nl, len(buf) - 1)
        if not buf:
            break
        arr = np.frombuffer(buf, dtype=np.uint8)
        nl = _outside_quotes(raw_nl, raw_q, len(buf))
        if nl.size == 0:
            carry, carry_pos = buf, (raw_nl, raw_de, raw_q)
            if len(carry) > MAX_RECORD_BYTES:
                raise ExtractionError(
                    f"{path.name}: a record longer than {MAX_RECORD_BYTES >> 20} MiB "
                    "(an unbalanced quote?)"
                )
            if eof:
                _warn_unterminated(report, carry)
                break
            continue
        last = int(nl[-1])
        carry = buf[last + 1:]
        cut = last + 1
        buf_base = base
        base += cut
        carry_pos = (raw_nl[raw_nl > last] - cut, raw_de[raw_de > last] - cut,
                     raw_q[raw_q > last] - cut)
        de = _outside_quotes(raw_de[raw_de < last], raw_q[raw_q < last], last)
        starts = np.empty(nl.size, dtype=np.int64)
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
        ends = nl.astype(np.int64)
        # An end that follows a carriage return ends before it.
        cr = arr[np.maximum(ends - 1, 0)] == 13
        content_end = np.where(cr & (ends > starts), ends - 1, ends)
        nonempty = content_end > starts
        if not nonempty.all():
            starts, ends, content_end = starts[nonempty], ends[nonempty], content_end[nonempty]
        n = starts.size
        report.rows_read += n
        first = np.searchsorted(de, starts)
        count = np.searchsorted(de, content_end) - first
        report.rows_field_count_mismatch += int(np.count_nonzero(count != header_width - 1))
        has_field = count >= k
        if de.size:
            if k == 0:
                fstart = starts.copy()
            else:
                fstart = de[np.minimum(first + k - 1, de.size - 1)] + 1
            fend = np.where(count > k, de[np.minimum(first + k, de.size - 1)], content_end)
        else:
            fstart = starts.copy()
            fend = content_end.copy()
        fstart = np.where(has_field, fstart, starts)
        fend = np.where(has_field, fend, starts)
        quoted = (arr[np.minimum(fstart, arr.size - 1)] == 34) & (fend - fstart >= 2)
        if quoted.any():
            fstart = np.where(quoted, fstart + 1, fstart)
            fend = np.where(quoted, fend - 1, fend)
        length = fend - fstart
        keys = keys_from_bytes(arr, fstart + slice_start, length - slice_start, sliced=sliced)
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
            for i, key, norm in odd_values:
                all_keys[i] = key
            odd_text = [(i, norm) for i, key, norm in odd_values if key < 0]
            every_row(starts + buf_base, ends - starts + 1, all_keys, odd_text)
        if kept_rows.size:
            ks = starts[kept_rows].tolist()
            ke = ends[kept_rows].tolist()
            records = [buf[s:e + 1] for s, e in zip(ks, ke, strict=True)]
            yield KeptChunk(records, codes)
        if eof:
            _warn_unterminated(report, carry)
            break
    report.add_unknown(unknown)


def _warn_unterminated(report: ExtractionReport, rest: bytes) -> None:
    if rest.strip():
        report.warn(f"the file ends inside a quoted field (an unbalanced quote); the last "
                    f"{len(rest)} bytes were skipped")
