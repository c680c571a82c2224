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
    """Stable order of ``keys`` as int32 positions when they fit (half the memory)."""
    import numpy as np

    order = np.argsort(keys, kind="stable")
    if order.size < (1 << 31) - 1:
        order = order.astype(np.int32)
    return order


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
    cum = np.cumsum(np.asarray(lengths)[order], dtype=np.int64)
    total = int(cum[-1])
    size = max(BUCKET_BYTES, -(-total // MAX_BUCKETS))
    # Bucket b holds the sorted positions bounds[b]..bounds[b+1]-1.
    bounds = np.searchsorted(cum, np.arange(size, total, size), side="left")
    bounds = np.unique(np.concatenate([[0], bounds, [n]]))
    del cum
    # The bucket of every record, in file order (in steps, to keep temporaries small).
    bucket_of = np.empty(n, dtype=np.int32)
    step = 1 << 20
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

    cum = np.zeros(int(np.asarray(lengths_sorted).size) + 1, dtype=np.int64)
    np.cumsum(lengths_sorted, out=cum[1:])
    return cum[np.asarray(ptr, dtype=np.int64)]


class ClusteredRows:
    """The records of whole key blocks, read from ``rows.bin`` in one read per block."""

    def __init__(self, folder: Path, lengths: Any, ptr: Any) -> None:
        import numpy as np

        self.path = folder / ROWS_FILE
        self.lengths = lengths
        self.ptr = ptr
        self.byte_ptr = np.load(folder / "byte_ptr.npy", mmap_mode="r")

    def available(self) -> bool:
        return self.path.is_file()

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
                if a >= b:
                    continue
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
