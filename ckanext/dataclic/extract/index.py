"""A code index for CSV files, built once per file version.

It stores, for every commune-code key met in the file, the byte offset and length of each
record, sorted by key, and a copy of the records in that order (clustered.py). Later
extractions read one block per run of the perimeter's codes from the copy and put the rows
back in file order: no scan of the whole input.

Layout: a folder ``<input name>.dataclic-index`` next to the input (or in ``index_dir``)
holding ``meta.json``, ``keys.npy`` / ``ptr.npy`` / ``offsets.npy`` / ``lengths.npy`` /
``byte_ptr.npy`` and ``rows.bin`` (as large as the input's data).
The index is used only if the input's size and modification time, and the profile's
code column, still match.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .clustered import (
    IN_MEMORY_BYTES,
    ClusteredRows,
    Column,
    release_freed_memory,
    sort_order,
    write_rows_by_key,
)
from .codes import CodeClassifier, key_code
from .csvscan import KeptChunk, filter_csv_by_code
from .errors import N_, ExtractionError
from .profile import ExtractionProfile
from .report import ExtractionReport
from .sniff import read_csv_layout

INDEX_VERSION = 2  # 2: with the clustered copy of the records (rows.bin)
SUFFIX = ".dataclic-index"
BATCH = 50_000
Progress = Callable[[int, int], None]


def index_folder(source: Path, index_dir: Path | None = None) -> Path:
    return (index_dir or source.parent) / (source.name + SUFFIX)


@contextmanager
def new_index_folder(source: Path, index_dir: Path | None) -> Iterator[tuple[Path, Path]]:
    """(final folder, temporary folder beside it): the temporary folder replaces the index
    when the block ends without error and is removed otherwise, so that no half-written
    index is ever found."""
    folder = index_folder(source, None if index_dir is None else Path(index_dir))
    if not folder.parent.is_dir():
        raise ExtractionError(N_("The index folder {path} does not exist"), path=folder.parent)
    tmp = Path(tempfile.mkdtemp(prefix=".index-", dir=folder.parent))
    tmp.chmod(0o755)
    try:
        yield folder, tmp
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fingerprint(source: Path) -> dict[str, int]:
    st = source.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def build_csv_index(source: Path, profile: ExtractionProfile, classifier: CodeClassifier,
                    index_dir: Path | None = None,
                    progress: Progress | None = None) -> tuple[Path, dict[str, Any]]:
    """Scan ``source`` once and write its code index; returns (folder, metadata)."""
    import numpy as np

    if profile.format != "csv" or not profile.code_column:
        raise ExtractionError(N_("An index can be built for a CSV file with a commune-code "
                                 "column"))
    started = time.perf_counter()
    layout = read_csv_layout(source, profile.encoding, profile.delimiter)
    guess = source.stat().st_size // 64  # rows, if records are ~64 bytes; grows if not
    offsets, lengths, keys = Column(np.int64, guess), Column(np.int32, guess), Column(
        np.int32, guess)
    odd: dict[str, list[tuple[int, int]]] = {}

    def collect(starts: Any, lens: Any, ks: Any, odd_text: list[tuple[int, str]]) -> None:
        offsets.append(starts)
        lengths.append(lens)
        keys.append(ks)
        for i, value in odd_text:
            odd.setdefault(value, []).append((int(starts[i]), int(lens[i])))

    report = ExtractionReport()
    fingerprint = _fingerprint(source)
    for _ in filter_csv_by_code(
        source, data_offset=layout.data_offset, delimiter=profile.delimiter or ",",
        code_index=profile.columns.index(profile.code_column), header_width=len(layout.header),
        code_slice=profile.code_slice, classifier=classifier, report=report,
        progress=progress, every_row=collect,
    ):
        pass
    release_freed_memory()
    order = sort_order(keys.array())
    sorted_keys = keys.array()[order]
    keys.data = None  # free it: only the sorted keys are needed from here
    first = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    first = np.concatenate([[0], first]) if sorted_keys.size else first
    uniq = sorted_keys[first]
    ptr = np.append(first, sorted_keys.size).astype(np.int64)
    del sorted_keys
    plain = uniq >= 0
    classifier.learn(uniq[plain].astype(np.int64))
    known = np.zeros(uniq.size, dtype=np.uint8)
    known[plain] = classifier.status[uniq[plain]]
    all_off, all_len = offsets.array(), lengths.array()
    with new_index_folder(source, index_dir) as (folder, tmp):
        np.save(tmp / "keys.npy", uniq.astype(np.int64))
        np.save(tmp / "ptr.npy", ptr)
        np.save(tmp / "status.npy", known)
        write_rows_by_key(source, tmp, all_off, all_len, order, ptr)
        meta = {
            "version": INDEX_VERSION, "kind": "code", "source": source.name, **fingerprint,
            "vintage": str(getattr(classifier.ref, "vintage", "")),
            "profile": profile.to_dict(), "data_offset": layout.data_offset,
            "rows": report.rows_read,
            "rows_field_count_mismatch": report.rows_field_count_mismatch,
            "odd": {k: v for k, v in odd.items()},
            "warnings": report.warnings,
            "build_s": round(time.perf_counter() - started, 3),
        }
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder, meta


@dataclass
class CsvCodeIndex:
    folder: Path
    meta: dict[str, Any]

    def array(self, name: str) -> Any:
        import numpy as np

        return np.load(self.folder / f"{name}.npy", mmap_mode="r")


def fresh_index_meta(source: Path, index_dir: Path | None = None) -> dict[str, Any] | None:
    """The metadata of the index of this very file version, if there is one."""
    folder = index_folder(source, None if index_dir is None else Path(index_dir))
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("version") != INDEX_VERSION or meta.get("source") != source.name:
        return None
    if {k: meta.get(k) for k in ("size", "mtime_ns")} != _fingerprint(source):
        return None
    return meta


def load_csv_index(source: Path, profile: ExtractionProfile,
                   index_dir: Path | None = None) -> CsvCodeIndex | None:
    """The index of ``source`` if it exists and is still valid for this file and profile."""
    folder = index_folder(source, None if index_dir is None else Path(index_dir))
    meta = fresh_index_meta(source, index_dir)
    if meta is None or meta.get("kind", "code") != "code":
        return None
    stored = meta.get("profile", {})
    for key in ("code_column", "delimiter", "encoding", "columns"):
        if stored.get(key) != profile.to_dict().get(key):
            return None
    if (stored.get("code_slice") or None) != (list(profile.code_slice)
                                              if profile.code_slice else None):
        return None
    return CsvCodeIndex(folder, meta)


def filter_with_index(source: Path, index: CsvCodeIndex, classifier: CodeClassifier,
                      report: ExtractionReport,
                      progress: Progress | None = None) -> Iterator[KeptChunk]:
    """The records of the perimeter, read straight from their offsets."""
    import numpy as np

    keys = index.array("keys")
    ptr = index.array("ptr")
    plain = np.asarray(keys) >= 0
    kk = np.asarray(keys)[plain]
    if index.meta.get("vintage") == str(getattr(classifier.ref, "vintage", "")):
        # Known/unknown status stored at build time, for the same referential vintage.
        classifier.status[kk] = np.asarray(index.array("status"))[plain]
    classifier.learn(kk)
    counts = np.diff(np.asarray(ptr))
    report.rows_read += int(index.meta["rows"])
    report.rows_field_count_mismatch += int(index.meta["rows_field_count_mismatch"])
    for w in index.meta.get("warnings", []):
        report.warn(w)
    unknown: Counter[str] = Counter()
    plain_idx = np.flatnonzero(plain)
    status = classifier.status[kk]
    for i in plain_idx[status == 2].tolist():
        unknown[key_code(int(keys[i]))] += int(counts[i])
    wanted = [int(i) for i in plain_idx[classifier.inside[kk]].tolist()]
    odd_spans: list[tuple[Any, Any, str]] = []
    for value, spans in index.meta.get("odd", {}).items():
        key, known, norm = classifier.classify_text(value)
        if classifier.is_inside_text(key_code(key) if key >= 0 else norm, key):
            code = key_code(key) if key >= 0 else norm
            arr = np.array(spans, dtype=np.int64).reshape(-1, 2)
            odd_spans.append((arr[:, 0], arr[:, 1], code))
        elif not known:
            unknown[value.strip()] += len(spans)
    report.rows_unknown_code += sum(unknown.values())
    report.add_unknown(unknown)
    offsets = index.array("offsets")
    lengths = index.array("lengths")
    blocks = _runs(wanted)
    clustered = ClusteredRows(index.folder, lengths, ptr)
    if sum(clustered.size(a, b) for a, b in blocks) <= IN_MEMORY_BYTES:
        yield from _from_clustered(source, clustered, blocks, keys, offsets, odd_spans,
                                   progress)
        return
    # A large slice: read it from the source in file order, record by record.
    ranges = [(offsets[ptr[i]:ptr[i + 1]], lengths[ptr[i]:ptr[i + 1]],
               key_code(int(keys[i]))) for i in wanted] + odd_spans
    if not ranges:
        return
    off = np.concatenate([np.asarray(r[0]) for r in ranges])
    lens = np.concatenate([np.asarray(r[1]) for r in ranges])
    codes = np.concatenate([np.full(len(r[0]), r[2], dtype=object) for r in ranges])
    order = np.argsort(off, kind="stable")  # keep the file's row order
    off, lens, codes = off[order], lens[order], codes[order]
    for start, records in read_rows_at(source, off, lens, progress):
        yield KeptChunk(records, codes[start:start + BATCH].tolist())


def _runs(wanted: list[int]) -> list[tuple[int, int]]:
    """Consecutive key indices as (first, last + 1) blocks."""
    blocks: list[tuple[int, int]] = []
    for i in wanted:
        if blocks and blocks[-1][1] == i:
            blocks[-1] = (blocks[-1][0], i + 1)
        else:
            blocks.append((i, i + 1))
    return blocks


def _from_clustered(source: Path, clustered: ClusteredRows, blocks: list[tuple[int, int]],
                    keys: Any, offsets: Any, odd_spans: list[tuple[Any, Any, str]],
                    progress: Progress | None) -> Iterator[KeptChunk]:
    """The slice from the clustered copy (one read per block of keys), back in file order."""
    import numpy as np

    records: list[bytes] = []
    where: list[Any] = []
    codes: list[Any] = []
    ptr = clustered.ptr
    for (key_a, key_b), (a, part) in zip(blocks, clustered.read(blocks), strict=True):
        records.extend(part)
        where.append(np.asarray(offsets[a:a + len(part)]))
        counts = np.diff(np.asarray(ptr[key_a:key_b + 1]))
        codes.append(np.repeat(np.array([key_code(int(k)) for k in keys[key_a:key_b]],
                                        dtype=object), counts))
    for off, lens, code in odd_spans:
        for _, part in read_rows_at(source, off, lens, None):
            records.extend(part)
        where.append(off)
        codes.append(np.full(off.size, code, dtype=object))
    if not records:
        return
    order = np.argsort(np.concatenate(where), kind="stable").tolist()
    all_codes = np.concatenate(codes)
    for start in range(0, len(order), BATCH):
        part = order[start:start + BATCH]
        chunk = [records[i] for i in part]
        if not chunk[-1].endswith(b"\n"):
            chunk[-1] += b"\n"
        yield KeptChunk(chunk, all_codes[part].tolist())
        if progress:
            progress(min(start + BATCH, len(order)), len(order))


def read_rows_at(
    source: Path, offsets: Any, lengths: Any, progress: Callable[[int, int], None] | None
) -> Iterator[tuple[int, list[bytes]]]:
    """The rows of ``source`` at ``offsets`` (sorted numpy arrays of byte offsets and
    lengths), in batches of ``BATCH``, each with the position of its first row; every batch
    ends with a newline. Progress is reported in bytes of the source."""
    total = source.stat().st_size
    # pread, not mmap: touching mapped pages all over a large file would count them in
    # this process's resident memory.
    fd = os.open(source, os.O_RDONLY)
    try:
        for start in range(0, offsets.size, BATCH):
            o = offsets[start:start + BATCH].tolist()
            n = lengths[start:start + BATCH].tolist()
            records = [os.pread(fd, b, a) for a, b in zip(o, n, strict=True)]
            if records and not records[-1].endswith(b"\n"):
                records[-1] += b"\n"
            if progress:
                progress(min(total, int(o[-1]) + int(n[-1])), total)
            yield start, records
    finally:
        os.close(fd)
