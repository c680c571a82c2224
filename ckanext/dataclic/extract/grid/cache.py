"""Coverage weights per (grid, referential contours), cached on disk beside the perimeter
cache of the console script (``$DATACLIC_CACHE_DIR``, default ``~/.cache/dataclic``).

A cache file ``grid-<grid fingerprint>.npz`` in the folder of the referential's data
fingerprint holds, for the communes computed so far, their rows of the coverage matrix
(areas in the grid CRS) and their whole area. Communes missing from it are computed and
merged in, so each commune's weights on a grid are computed once per referential version:
a first national run fills it in seconds, later runs (any perimeter) only read it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import N_, ExtractionError
from .spec import GridSpec
from .weights import coverage_matrix

CACHE_FORMAT = 1
COMMUNES_PER_BATCH = 4000


def referential_key(referential: Any) -> str:
    """Identifies the commune contours of ``referential``."""
    from .. import perimeter_cache

    if type(referential).__name__ == "CachedReferential":
        return perimeter_cache.data_fingerprint() or "embedded"
    try:
        from ckanext.dataclic.territories.referential import Referential, _embedded

        if isinstance(referential, Referential) and referential.contour_loader is _embedded:
            return perimeter_cache.data_fingerprint() or "embedded"
    except ImportError:
        pass
    sources = [(s.name, s.vintage) for s in getattr(referential, "contour_sources", [])]
    text = f"{getattr(referential, 'vintage', '')}|{sources}|{id(referential)}"
    if all(sources) and sources:
        text = f"{getattr(referential, 'vintage', '')}|{sources}"
    return "ref-" + hashlib.sha1(text.encode()).hexdigest()[:16]


class WeightStore:
    """The weights of one grid for one referential: load, complete, save."""

    def __init__(self, grid: GridSpec, ref_key: str, folder: Path | None) -> None:
        self.grid = grid
        self.path = (folder / ref_key / f"grid-{grid.fingerprint()}.npz") if folder else None
        self.codes: list[str] = []
        self.matrix: Any = None
        self.areas: Any = None
        self.loaded_from_cache = False
        self.computed = 0
        self._load()

    def _load(self) -> None:
        import numpy as np
        from scipy import sparse

        if self.path is None or not self.path.is_file():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                if int(data["format"]) != CACHE_FORMAT:
                    return
                self.codes = [str(c) for c in data["codes"]]
                self.areas = data["areas"]
                self.matrix = sparse.csr_matrix(
                    (data["data"], data["indices"], data["indptr"]),
                    shape=(len(self.codes), self.grid.cells))
            self.loaded_from_cache = True
        except (OSError, ValueError, KeyError):
            self.codes, self.matrix, self.areas = [], None, None

    def rows(self, codes: list[str], geometries: Callable[[list[str]], list[Any]]) -> tuple[
            Any, Any]:
        """(CSR matrix, areas) for ``codes``, in that order; ``geometries(codes)`` gives the
        missing communes' WGS84 contours (None where unknown)."""
        import numpy as np
        from scipy import sparse

        known = set(self.codes)
        missing = [c for c in dict.fromkeys(codes) if c not in known]
        if missing:
            matrix, areas = self._compute(missing, geometries(missing))
            self.computed = len(missing)
            if self.matrix is None:
                self.codes, self.matrix, self.areas = missing, matrix, areas
            else:
                self.codes = self.codes + missing
                self.matrix = sparse.vstack([self.matrix, matrix], format="csr")
                self.areas = np.concatenate([self.areas, areas])
            self._save()
        position = {c: i for i, c in enumerate(self.codes)}
        idx = np.array([position[c] for c in codes], dtype=np.int64)
        return self.matrix[idx], self.areas[idx]

    def _compute(self, codes: list[str], geoms: list[Any]) -> tuple[Any, Any]:
        """Rows for ``codes``, by batches of communes (reprojected copies stay small)."""
        import numpy as np
        import shapely
        from scipy import sparse

        from ..spatial import reproject

        if all(g is None for g in geoms):
            raise ExtractionError(N_("No commune contour is known for this perimeter"))
        parts, areas = [], []
        for s in range(0, len(geoms), COMMUNES_PER_BATCH):
            batch = [g if g is not None else shapely.Polygon()
                     for g in geoms[s:s + COMMUNES_PER_BATCH]]
            arr = np.array(batch, dtype=object)
            if self.grid.crs != "EPSG:4326":
                arr = reproject(arr, "EPSG:4326", self.grid.crs)
            invalid = ~shapely.is_valid(arr)
            if invalid.any():
                arr[invalid] = shapely.make_valid(arr[invalid])
            parts.append(coverage_matrix(self.grid, arr))
            areas.append(shapely.area(arr))
        return sparse.vstack(parts, format="csr"), np.concatenate(areas)

    def _save(self) -> None:
        import numpy as np

        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp.npz")
            m = self.matrix
            np.savez(tmp, format=CACHE_FORMAT, codes=np.array(self.codes, dtype="U16"),
                     areas=self.areas, data=m.data, indices=m.indices.astype(np.int32),
                     indptr=m.indptr.astype(np.int64))
            os.replace(tmp, self.path)
        except OSError:
            return
