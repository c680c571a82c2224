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
    left out): a perimeter's geometry then costs its own communes, not all of France's."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    # One column at a time, memory-mapped, the pool's freed memory given back after each:
    # reading the whole table at once costs the process ~100 MB more at its peak.
    file = pq.ParquetFile(path or data_path(CONTOURS_FILE), memory_map=True)
    pool = pa.default_memory_pool()

    def flat(name: str) -> tuple[np.ndarray, np.ndarray]:
        column = file.read(columns=[name], use_threads=False).column(0).combine_chunks()
        values = column.values.to_numpy().copy()
        offsets = column.offsets.to_numpy().astype(np.int64)
        del column
        pool.release_unused()
        return values, offsets

    all_codes = file.read(columns=["code"], use_threads=False).column(0).to_pylist()
    dx, coord_offsets = flat("dx")
    dy, _ = flat("dy")
    ring_sizes, ring_row_offsets = flat("ring_sizes")
    poly_rings, geom_offsets = flat("poly_rings")
    file.close()
    if codes is None:
        rows = None
        selected = all_codes
    else:
        wanted = set(codes)
        rows = np.array([i for i, code in enumerate(all_codes) if code in wanted], dtype=np.int64)
        selected = [all_codes[i] for i in rows.tolist()]
    # Coordinates are delta-encoded across the whole file: decode all, keep the rows asked.
    x = np.cumsum(dx, dtype=np.int64)
    y = np.cumsum(dy, dtype=np.int64)
    if rows is not None:
        take = _ranges(coord_offsets, rows)
        x, y = x[take], y[take]
        ring_sizes = ring_sizes[_ranges(ring_row_offsets, rows)]
        poly_rings = poly_rings[_ranges(geom_offsets, rows)]
        polygons = geom_offsets[rows + 1] - geom_offsets[rows]
        geom_offsets = np.concatenate([[0], np.cumsum(polygons, dtype=np.int64)])
    coords = np.empty((len(x), 2), dtype=np.float64)
    coords[:, 0] = x / SCALE
    coords[:, 1] = y / SCALE
    ring_offsets = np.concatenate([[0], np.cumsum(ring_sizes, dtype=np.int64)])
    poly_offsets = np.concatenate([[0], np.cumsum(poly_rings, dtype=np.int64)])
    geometries = shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON,
        coords,
        (ring_offsets, poly_offsets, geom_offsets.astype(np.int64)),
    )
    return selected, geometries


def _ranges(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Indices of the values of ``rows`` in a list column with these ``offsets``."""
    starts, ends = offsets[rows], offsets[rows + 1]
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    lengths = ends - starts
    # arange per row, vectorised: position within the concatenation minus the row's start
    first = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return first + np.arange(int(lengths.sum()), dtype=np.int64)
