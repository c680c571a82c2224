"""Readers of the referential shipped inside the package (``territories/data/``).

``cog.json.gz`` holds the COG tables, ``contours.parquet`` the commune contours as
delta-encoded integer coordinates (1e-5 degree). ``scripts/build_referential.py`` writes both.
"""
from __future__ import annotations

import gzip
import json
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

SCALE = 100_000
COG_FILE = "cog.json.gz"
CONTOURS_FILE = "contours.parquet"
SUBSET_BATCH_ROWS = 2048  # rows decoded at a time when reading some communes only


def data_path(name: str) -> Path:
    return Path(str(resources.files("ckanext.dataclic.territories") / "data" / name))


def read_cog(path: Path | None = None) -> dict[str, Any]:
    with gzip.open(path or data_path(COG_FILE), "rt", encoding="utf-8") as fh:
        return json.load(fh)


def read_contours(
    path: Path | None = None, codes: Collection[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Return commune codes and an array of shapely MultiPolygons (EPSG:4326), same order.

    With ``codes``, only those communes' contours are built (codes absent from the file are
    left out), streaming the file a few pages at a time: a perimeter's geometry then costs
    its own communes, not all of France's (the whole set is ~60 MB of geometries, and a
    whole-column read of the file ~40 MB more at its peak)."""
    import pyarrow.parquet as pq
    import shapely

    if codes is not None:
        return _read_some(path or data_path(CONTOURS_FILE), set(codes))

    table = pq.read_table(path or data_path(CONTOURS_FILE))
    codes = table.column("code").to_pylist()

    def flat(name: str) -> tuple[np.ndarray, np.ndarray]:
        column = table.column(name).combine_chunks()
        return column.values.to_numpy(), column.offsets.to_numpy()

    dx, _ = flat("dx")
    dy, _ = flat("dy")
    ring_sizes, _ = flat("ring_sizes")
    poly_rings, geom_offsets = flat("poly_rings")
    coords = np.empty((len(dx), 2), dtype=np.float64)
    coords[:, 0] = np.cumsum(dx, dtype=np.int64) / SCALE
    coords[:, 1] = np.cumsum(dy, dtype=np.int64) / SCALE
    ring_offsets = np.concatenate([[0], np.cumsum(ring_sizes, dtype=np.int64)])
    poly_offsets = np.concatenate([[0], np.cumsum(poly_rings, dtype=np.int64)])
    geometries = shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON,
        coords,
        (ring_offsets, poly_offsets, geom_offsets.astype(np.int64)),
    )
    return codes, geometries


def _read_some(path: Path, wanted: set[str]) -> tuple[list[str], np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    found: list[str] = []
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    rings: list[np.ndarray] = []
    polygons: list[np.ndarray] = []
    x0 = y0 = 0  # coordinates are delta-encoded across the whole file
    columns = ["code", "dx", "dy", "ring_sizes", "poly_rings"]
    with pq.ParquetFile(path, memory_map=True) as file:
        for batch in file.iter_batches(batch_size=SUBSET_BATCH_ROWS, columns=columns,
                                       use_threads=False):
            dx, coord_offsets = _flat(batch.column(1))
            dy, _ = _flat(batch.column(2))
            x = x0 + np.cumsum(dx, dtype=np.int64)
            y = y0 + np.cumsum(dy, dtype=np.int64)
            if len(x):
                x0, y0 = int(x[-1]), int(y[-1])
            rows = [i for i, code in enumerate(batch.column(0).to_pylist()) if code in wanted]
            if not rows:
                continue
            ring_sizes, ring_offsets = _flat(batch.column(3))
            poly_rings, poly_offsets = _flat(batch.column(4))
            codes = batch.column(0)
            for i in rows:
                found.append(codes[i].as_py())
                xs.append(x[coord_offsets[i]:coord_offsets[i + 1]])
                ys.append(y[coord_offsets[i]:coord_offsets[i + 1]])
                rings.append(ring_sizes[ring_offsets[i]:ring_offsets[i + 1]])
                polygons.append(poly_rings[poly_offsets[i]:poly_offsets[i + 1]])
    pa.default_memory_pool().release_unused()  # the decoded pages, back to the system
    if not found:
        return [], np.empty(0, dtype=object)
    coords = np.empty((sum(len(part) for part in xs), 2), dtype=np.float64)
    coords[:, 0] = np.concatenate(xs) / SCALE
    coords[:, 1] = np.concatenate(ys) / SCALE
    ring_offsets_all = np.concatenate([[0], np.cumsum(np.concatenate(rings), dtype=np.int64)])
    poly_offsets_all = np.concatenate(
        [[0], np.cumsum(np.concatenate(polygons), dtype=np.int64)])
    geom_offsets = np.concatenate(
        [[0], np.cumsum([len(part) for part in polygons], dtype=np.int64)])
    geometries = shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON, coords,
        (ring_offsets_all, poly_offsets_all, geom_offsets),
    )
    return found, geometries


def _flat(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """Values and zero-based offsets of a list column of one record batch."""
    offsets = np.asarray(column.offsets, dtype=np.int64)
    return column.flatten().to_numpy(zero_copy_only=False), offsets - offsets[0]
