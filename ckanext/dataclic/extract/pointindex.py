"""A spatial index for CSV point files (lat/lon or x/y columns), built once per file version.

Every record's coordinates, byte offset and length are stored sorted by a 1024 × 1024 grid
cell over the file's extent, with a copy of the records in that order (clustered.py). An
extraction reads the cells that meet the perimeter's bounding box (one read per run of
cells), tests those points exactly against the perimeter and keeps the matching records.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
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
from .csvscan import record_spans
from .errors import N_, ExtractionError
from .index import (
    BATCH,
    INDEX_VERSION,
    _fingerprint,
    fresh_index_meta,
    index_folder,
    new_index_folder,
    read_rows_at,
)
from .profile import ExtractionProfile
from .report import ExtractionReport
from .sniff import read_csv_layout

GRID = 1024
Progress = Callable[[int, int], None]


def build_points_index(source: Path, profile: ExtractionProfile,
                       index_dir: Path | None = None,
                       progress: Progress | None = None) -> tuple[Path, dict[str, Any]]:
    import numpy as np

    from .readers import read_csv_batches

    if profile.format != "csv" or profile.geometry not in ("latlon", "point_text"):
        raise ExtractionError(N_("A point index needs a CSV file with coordinate columns"))
    started = time.perf_counter()
    fingerprint = _fingerprint(source)
    layout = read_csv_layout(source, profile.encoding, profile.delimiter)
    guess = source.stat().st_size // 64  # rows, if records are ~64 bytes; grows if not
    offsets, lengths = Column(np.int64, guess), Column(np.int32, guess)

    report = ExtractionReport()
    for starts, lens in record_spans(source, data_offset=layout.data_offset,
                                     delimiter=profile.delimiter or ",",
                                     header_width=len(layout.header), report=report,
                                     progress=progress):
        offsets.append(starts)
        lengths.append(lens)
    xs, ys = Column(np.float64, offsets.size), Column(np.float64, offsets.size)
    skipped = [0]
    coordinates = [c for c in (profile.lat_column, profile.lon_column, profile.point_column)
                   if c]
    for batch in read_csv_batches(source, profile, None, skipped, only=coordinates):
        xs.append(np.asarray(batch.x, dtype=np.float64))
        ys.append(np.asarray(batch.y, dtype=np.float64))
    off, lens = offsets.array(), lengths.array()
    x, y = xs.array(), ys.array()
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    release_freed_memory()
    if skipped[0] or x.size != off.size:
        raise ExtractionError(N_(
            "Cannot index this file: some rows do not have as many fields as the header"))
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.any():
        minx, maxx = float(np.min(x, where=ok, initial=np.inf)), float(
            np.max(x, where=ok, initial=-np.inf))
        miny, maxy = float(np.min(y, where=ok, initial=np.inf)), float(
            np.max(y, where=ok, initial=-np.inf))
    else:
        minx = maxx = miny = maxy = 0.0
    sx = (maxx - minx) / GRID or 1.0
    sy = (maxy - miny) / GRID or 1.0
    # The grid cell of every row (-1 without coordinates), a million rows at a time to keep
    # the temporaries small.
    key = np.full(x.size, -1, dtype=np.int32)
    step = 1 << 20
    for lo in range(0, x.size, step):
        part = slice(lo, lo + step)
        good = ok[part]
        with np.errstate(invalid="ignore"):
            ix = np.clip((x[part] - minx) / sx, 0, GRID - 1).astype(np.int32)
            iy = np.clip((y[part] - miny) / sy, 0, GRID - 1).astype(np.int32)
        key[part] = np.where(good, ix * GRID + iy, -1)
    without_geometry = int(ok.size - np.count_nonzero(ok))
    del ok
    order = sort_order(key)
    skey = key[order]
    first = np.flatnonzero(skey[1:] != skey[:-1]) + 1
    first = np.concatenate([[0], first]) if skey.size else first
    uniq = skey[first]
    ptr = np.append(first, skey.size).astype(np.int64)
    del skey
    with new_index_folder(source, index_dir) as (folder, tmp):
        np.save(tmp / "cells.npy", uniq)
        np.save(tmp / "ptr.npy", ptr)
        columns = {"x": x, "y": y}
        del x, y
        xs.data = ys.data = None
        write_rows_by_key(source, tmp, off, lens, order, ptr, columns)
        meta = {
            "version": INDEX_VERSION, "kind": "points", "source": source.name, **fingerprint,
            "profile": profile.to_dict(), "rows": int(off.size),
            "rows_without_geometry": without_geometry,
            "grid": {"minx": minx, "miny": miny, "sx": sx, "sy": sy, "n": GRID},
            "build_s": round(time.perf_counter() - started, 3),
        }
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder, meta


def load_points_index(source: Path, profile: ExtractionProfile,
                      index_dir: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    meta = fresh_index_meta(source, index_dir)
    if meta is None or meta.get("kind") != "points":
        return None
    stored = meta.get("profile", {})
    current = profile.to_dict()
    for key in ("delimiter", "encoding", "columns", "geometry", "lat_column", "lon_column",
                "point_column", "crs"):
        if stored.get(key) != current.get(key):
            return None
    return index_folder(source, index_dir), meta


def points_with_index(source: Path, folder: Path, meta: dict[str, Any], selection: Any,
                      report: ExtractionReport, progress: Progress | None = None
                      ) -> Iterator[tuple[list[bytes], Any, Any]]:
    """(records, x, y) of the points inside the perimeter, in file order."""
    import numpy as np

    def load(name: str) -> Any:
        return np.load(folder / f"{name}.npy", mmap_mode="r")

    g = meta["grid"]
    n = g["n"]
    minx, miny, maxx, maxy = selection.bounds
    ix0 = max(0, int((minx - g["minx"]) // g["sx"]))
    ix1 = min(n - 1, int((maxx - g["minx"]) // g["sx"]))
    iy0 = max(0, int((miny - g["miny"]) // g["sy"]))
    iy1 = min(n - 1, int((maxy - g["miny"]) // g["sy"]))
    report.rows_read += int(meta["rows"])
    report.rows_without_geometry += int(meta["rows_without_geometry"])
    cells = np.asarray(load("cells"))
    ptr = load("ptr")
    blocks = []
    if ix0 <= ix1 and iy0 <= iy1:
        # One run of cells per grid column (queries in the cells' own dtype: a mixed-type
        # search would convert the whole cell array each time).
        column = np.arange(ix0, ix1 + 1, dtype=np.int64) * n
        lo = np.searchsorted(cells, (column + iy0).astype(cells.dtype))
        hi = np.searchsorted(cells, (column + iy1).astype(cells.dtype), side="right")
        blocks = [(a, b) for a, b in zip(lo.tolist(), hi.tolist(), strict=True) if a < b]
    if not blocks:
        return
    x_all, y_all = load("x"), load("y")
    off_all, len_all = load("offsets"), load("lengths")
    clustered = ClusteredRows(folder, len_all, ptr)
    if sum(clustered.size(a, b) for a, b in blocks) <= IN_MEMORY_BYTES:
        # The exact test first, on the index's coordinates; then one read per block of
        # cells from the clustered copy, keeping only the matching records.
        pos = np.concatenate([np.arange(int(ptr[a]), int(ptr[b])) for a, b in blocks])
        keep = selection.mask_xy(np.asarray(x_all[pos]), np.asarray(y_all[pos]))
        blobs: list[bytes] = []
        starts: list[Any] = []
        ends: list[Any] = []
        at = base = 0
        for _, (blob, cut) in clustered.read_blocks(blocks):
            count = cut.size - 1
            wanted = np.flatnonzero(keep[at:at + count])
            at += count
            if wanted.size:
                starts.append(cut[wanted] + base)
                ends.append(cut[wanted + 1] + base)
                blobs.append(blob)
                base += len(blob)
        idx = pos[keep]
        if idx.size == 0:
            return
        # Back to file order, then each record sliced once from the blocks read.
        order = np.argsort(np.asarray(off_all[idx]), kind="stable")
        idx = idx[order]
        x, y = np.asarray(x_all[idx]), np.asarray(y_all[idx])
        data = b"".join(blobs)
        lo = np.concatenate(starts)[order].tolist()
        hi = np.concatenate(ends)[order].tolist()
        for start in range(0, idx.size, BATCH):
            stop = min(start + BATCH, idx.size)
            chunk = [data[i:j] for i, j in zip(lo[start:stop], hi[start:stop], strict=True)]
            if not chunk[-1].endswith(b"\n"):
                chunk[-1] += b"\n"  # the file's last record, without its newline
            yield chunk, x[start:stop], y[start:stop]
            if progress:
                progress(stop, idx.size)
        return
    idx = np.concatenate([np.arange(int(ptr[a]), int(ptr[b])) for a, b in blocks])
    x = np.asarray(x_all[idx])
    y = np.asarray(y_all[idx])
    keep = selection.mask_xy(x, y)
    idx, x, y = idx[keep], x[keep], y[keep]
    off = np.asarray(off_all[idx])
    lens = np.asarray(len_all[idx])
    order = np.argsort(off, kind="stable")
    off, lens, x, y = off[order], lens[order], x[order], y[order]
    for start, records in read_rows_at(source, off, lens, progress):
        yield records, x[start:start + BATCH], y[start:start + BATCH]
