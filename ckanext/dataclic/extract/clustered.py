"""A copy of a CSV file's records grouped by index key, written once with the index.

An index sorts a file's records by a key (a commune code, a grid cell). Reading the
records of a few keys straight from the source means one small read per record, scattered
over the whole file. The clustered copy (``rows.bin`` in the index folder) holds the same
records in key order, so the records of one key are one contiguous block: an extraction
reads a few blocks, however many records they hold.

Writing it needs no random reads and bounded memory: one sequential pass over the source
deals the records into bucket files (each a contiguous slice of the key order, a few tens
of MiB), then each bucket is put in key order in memory and appended to ``rows.bin``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROWS_FILE = "rows.bin"
BUCKET_BYTES = 8 << 20
MAX_BUCKETS = 2048
READ_BYTES = 4 << 20
STEP_ROWS = 1 << 18  # rows per step of the index build's array work
IN_MEMORY_BYTES = 64 << 20  # an extraction reads blocks whole up to this in all
Progress = Callable[[int, int], None]


class Column:
    """A numpy column filled piece by piece during a scan, in one allocation that grows by
    doubling (pages not yet written cost no memory). Many small arrays would leave the
    allocator's heap fragmented, and the process would keep that memory after the scan."""

    def __init__(self, dtype: Any, capacity: int) -> None:
        import numpy as np

        self.data = np.empty(max(capacity, 1024), dtype=dtype)
        self.size = 0

    def append(self, piece: Any) -> None:
        import numpy as np

        end = self.size + piece.size
        if end > self.data.size:
            grown = np.empty(max(end, 2 * self.data.size), dtype=self.data.dtype)
            grown[:self.size] = self.data[:self.size]
            self.data = grown
        self.data[self.size:end] = piece
        self.size = end

    def array(self) -> Any:
        """The filled part (a view: the column must not be appended to afterwards)."""
        return self.data[:self.size]


def release_freed_memory() -> None:
    """Give the memory freed so far back to the system (glibc keeps freed heap memory
    otherwise, and the peak RSS would count it); a no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def sort_order(keys: Any) -> Any:
    """Stable order of ``keys`` (int32 positions when they fit), as a counting sort over
    the distinct keys, a million rows at a time: numpy's argsort would need 8 bytes per row
    at once (the peak of an index build)."""
    import numpy as np

    n = int(keys.size)
    dtype = np.int32 if n < (1 << 31) - 1 else np.int64
    if n == 0:
        return np.empty(0, dtype=dtype)
    step = STEP_ROWS
    low, high = int(keys.min()), int(keys.max())
    if high - low < (1 << 26):  # small key range (codes, grid cells): count in pieces
        tally = np.zeros(high - low + 1, dtype=np.int64)
        for lo in range(0, n, step):
            tally += np.bincount(keys[lo:lo + step] - low, minlength=tally.size)
        distinct = (np.flatnonzero(tally) + low).astype(keys.dtype)
        counts = tally[tally > 0]
        del tally
    else:
        distinct, counts = np.unique(keys, return_counts=True)
    cursor = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    order = np.empty(n, dtype=dtype)
    for lo in range(0, n, step):
        group = np.searchsorted(distinct, keys[lo:lo + step])
        by_group = np.argsort(group, kind="stable")
        g = group[by_group]
        starts = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]]))
        sizes = np.diff(np.concatenate([starts, [g.size]]))
        rank = np.arange(g.size) - np.repeat(starts, sizes)
        order[cursor[g] + rank] = by_group + lo
        cursor[g[starts]] += sizes
    return order


def write_rows_by_key(source: Path, folder: Path, offsets: Any, lengths: Any, order: Any,
                      ptr: Any, columns: dict[str, Any] | None = None) -> None:
    """The part every index shares: ``offsets.npy``, ``lengths.npy`` (and each of
    ``columns``, a dict emptied once saved so that its arrays can be freed) in key order,
    ``byte_ptr.npy`` and the clustered copy ``rows.bin``."""
    import numpy as np

    columns = columns if columns is not None else {}
    for name, values in (("offsets", offsets), ("lengths", lengths), *columns.items()):
        save_in_order(folder / f"{name}.npy", values, order)
    columns.clear()
    sorted_len = np.load(folder / "lengths.npy", mmap_mode="r")
    np.save(folder / "byte_ptr.npy", byte_pointers(sorted_len, ptr))
    del sorted_len
    write_clustered(source, folder, offsets, lengths, order)


def write_clustered(source: Path, folder: Path, offsets: Any, lengths: Any, order: Any,
                    progress: Progress | None = None) -> None:
    """Write ``folder/rows.bin``: the records of ``source`` (``offsets``/``lengths`` in
    file order) in the order ``order`` (positions in file order, sorted by key)."""
    import numpy as np

    n = int(order.size)
    out = folder / ROWS_FILE
    if n == 0:
        out.write_bytes(b"")
        return
    step = STEP_ROWS
    total = sum(int(np.asarray(lengths[lo:lo + step]).sum(dtype=np.int64))
                for lo in range(0, n, step))
    size = max(BUCKET_BYTES, -(-total // MAX_BUCKETS))
    # Bucket b holds the sorted positions bounds[b]..bounds[b+1]-1: cut where the running
    # byte count passes a multiple of ``size`` (in steps, to keep temporaries small).
    cuts = [0]
    running = 0
    for lo in range(0, n, step):
        cum = running + np.cumsum(np.asarray(lengths)[np.asarray(order[lo:lo + step])],
                                  dtype=np.int64)
        marks = np.arange((running // size + 1) * size, int(cum[-1]), size)
        cuts.extend((lo + np.searchsorted(cum, marks, side="left")).tolist())
        running = int(cum[-1])
    bounds = np.unique(np.array(cuts + [n], dtype=np.int64))
    # The bucket of every record, in file order.
    bucket_of = np.empty(n, dtype=np.int32)
    for lo in range(0, n, step):
        bucket_of[np.asarray(order[lo:lo + step])] = (
            np.searchsorted(bounds, np.arange(lo, min(n, lo + step)), side="right") - 1)
    buckets = folder / "buckets"
    buckets.mkdir()
    files = [open(buckets / f"{b}.bin", "wb") for b in range(bounds.size - 1)]  # noqa: SIM115
    try:
        _deal(source, offsets, lengths, bucket_of, files, total, progress)
    finally:
        for fh in files:
            fh.close()
    del bucket_of
    with out.open("wb") as sink:
        for b in range(bounds.size - 1):
            part = buckets / f"{b}.bin"
            rows = np.asarray(order[bounds[b]:bounds[b + 1]])
            in_file_order = np.sort(rows)
            lens = np.asarray(lengths)[in_file_order].astype(np.int64)
            starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
            where = np.searchsorted(in_file_order, rows)
            data = part.read_bytes()
            s = starts[where].tolist()
            e = (starts[where] + lens[where]).tolist()
            sink.write(b"".join([data[a:z] for a, z in zip(s, e, strict=True)]))
            part.unlink()
    buckets.rmdir()


def _deal(source: Path, offsets: Any, lengths: Any, bucket_of: Any, files: list[Any],
          total: int, progress: Progress | None) -> None:
    """One sequential pass: every record goes to the end of its bucket file."""
    import numpy as np

    n = int(bucket_of.size)
    done = 0
    with source.open("rb") as fh:
        i = 0
        while i < n:
            base = int(offsets[i])
            # Records i..j-1 fit in one read (at least one record per read).
            j = int(np.searchsorted(offsets, base + READ_BYTES, side="left"))
            j = min(n, max(j, i + 1))
            off = np.asarray(offsets[i:j]) - base
            lens = np.asarray(lengths[i:j]).astype(np.int64)
            fh.seek(base)
            need = int(off[-1] + lens[-1])
            data = fh.read(need)
            if len(data) < need:  # the last record has no newline: the copy gets one
                data += b"\n" * (need - len(data))
            b = np.asarray(bucket_of[i:j])
            by_bucket = np.argsort(b, kind="stable")
            s = off[by_bucket].tolist()
            e = (off[by_bucket] + lens[by_bucket]).tolist()
            pieces = [data[a:z] for a, z in zip(s, e, strict=True)]
            sb = b[by_bucket]
            cuts = np.flatnonzero(np.diff(sb)) + 1
            for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(pieces)], strict=True):
                files[int(sb[lo])].write(b"".join(pieces[lo:hi]))
            done += int(lens.sum())
            if progress:
                progress(min(done, total), total)
            i = j


def byte_pointers(lengths_sorted: Any, ptr: Any) -> Any:
    """Where each key's block starts in rows.bin (``ptr``: each key's first sorted
    position, then the row count); the last entry is the file's size."""
    import numpy as np

    ptr = np.asarray(ptr, dtype=np.int64)
    out = np.zeros(ptr.size, dtype=np.int64)
    if ptr.size > 1 and ptr[-1] > 0:
        out[1:] = np.cumsum(np.add.reduceat(np.asarray(lengths_sorted), ptr[:-1],
                                            dtype=np.int64))
    return out


def save_in_order(path: Path, values: Any, order: Any) -> None:
    """Save ``values[order]`` as a .npy file, a step at a time (no full-size temporary)."""
    import numpy as np

    header = {"descr": np.lib.format.dtype_to_descr(values.dtype), "fortran_order": False,
              "shape": (int(order.size),)}
    with path.open("wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for lo in range(0, int(order.size), STEP_ROWS):
            fh.write(np.ascontiguousarray(values[np.asarray(order[lo:lo + STEP_ROWS])]).tobytes())


class ClusteredRows:
    """The records of whole key blocks, read from ``rows.bin`` in one read per block."""

    def __init__(self, folder: Path, lengths: Any, ptr: Any) -> None:
        import numpy as np

        self.path = folder / ROWS_FILE
        self.lengths = lengths
        self.ptr = ptr
        self.byte_ptr = np.load(folder / "byte_ptr.npy", mmap_mode="r")

    def size(self, key_a: int, key_b: int) -> int:
        """Bytes of the records of keys ``key_a`` .. ``key_b - 1``."""
        return int(self.byte_ptr[key_b]) - int(self.byte_ptr[key_a])

    def read_blocks(self, blocks: list[tuple[int, int]]) -> Iterator[tuple[int, tuple[bytes, Any]]]:
        """For each (key_a, key_b), the sorted position of its first record, the bytes of
        the records of keys key_a .. key_b - 1 and where each record starts in them (and
        the end, last)."""
        import numpy as np

        with self.path.open("rb") as fh:
            for key_a, key_b in blocks:
                a, b = int(self.ptr[key_a]), int(self.ptr[key_b])
                fh.seek(int(self.byte_ptr[key_a]))
                data = fh.read(self.size(key_a, key_b))
                cut = np.zeros(b - a + 1, dtype=np.int64)
                np.cumsum(np.asarray(self.lengths[a:b]), out=cut[1:])
                yield a, (data, cut)

    def read(self, blocks: list[tuple[int, int]]) -> Iterator[tuple[int, list[bytes]]]:
        """For each (key_a, key_b), the sorted position of its first record and the
        records of keys key_a .. key_b - 1, split by the stored lengths."""
        for a, (data, cut) in self.read_blocks(blocks):
            c = cut.tolist()
            yield a, [data[c[i]:c[i + 1]] for i in range(len(c) - 1)]
