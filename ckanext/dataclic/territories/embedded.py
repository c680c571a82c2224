"""Readers of the referential shipped inside the package (``territories/data/``).

``cog.json.gz`` holds the COG tables, ``contours.parquet`` the commune contours as
delta-encoded integer coordinates (1e-5 degree). ``scripts/build_referential.py`` writes both.
"""
from __future__ import annotations

import gzip
import json
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


def read_contours(path: Path | None = None) -> tuple[list[str], np.ndarray]:
    """Return commune codes and an array of shapely MultiPolygons (EPSG:4326), same order."""
    import pyarrow.parquet as pq
    import shapely

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
