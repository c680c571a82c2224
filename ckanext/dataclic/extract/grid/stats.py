"""Area-weighted statistics of grid layers over territories, by sparse products.

For a unit (a commune, or the whole perimeter) with weights w (its area in each cell) and a
layer v (NaN where the grid has no value):
  mean = Σ w·v / Σ w over valid cells; min / max over valid cells with w > 0;
  share_above = Σ w·[v > t] / Σ w; share_below = Σ w·[v < t] / Σ w (valid cells);
  coverage = Σ w over valid cells / the unit's area (1 when wholly on valid cells).
Layers are read in blocks along the non-spatial dimensions, over the window of the cells
the units meet, so memory stays bounded for daily files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

BLOCK_BYTES = 64 * 1024 * 1024


def statistics(threshold: float | None) -> list[str]:
    names = ["mean", "min", "max"]
    if threshold is not None:
        names += ["share_above", "share_below"]
    return [*names, "coverage"]


@dataclass
class Block:
    variable: str
    start: int  # flattened index of the first layer in the variable's non-spatial dims
    values: dict[str, Any]  # statistic -> array (units, layers)


class LocalWeights:
    """Unit x cell weights restricted to the window of the cells they meet."""

    def __init__(self, matrix: Any, areas: Any, nx: int) -> None:
        import numpy as np
        from scipy import sparse

        matrix = matrix.tocsr()
        matrix.sum_duplicates()
        self.areas = np.asarray(areas, dtype=np.float64)
        cells = matrix.indices
        if cells.size == 0:
            self.window = None
            return
        rows, cols = cells // nx, cells % nx
        r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
        self.window = (r0, r1, c0, c1)
        local = (rows - r0) * (c1 - c0) + (cols - c0)
        self.matrix = sparse.csr_matrix((matrix.data, local, matrix.indptr),
                                        shape=(matrix.shape[0], (r1 - r0) * (c1 - c0)))
        self.starts = matrix.indptr[:-1][np.diff(matrix.indptr) > 0]
        self.nonempty = np.diff(matrix.indptr) > 0

    def apply(self, layers: Any, threshold: float | None) -> dict[str, Any]:
        """Statistics of ``layers`` (k, window cells) for every unit: arrays (units, k)."""
        import numpy as np

        v = layers.T  # (cells, k)
        valid = ~np.isnan(v)
        w = self.matrix
        with np.errstate(invalid="ignore", divide="ignore"):
            sw = w @ valid.astype(np.float64)
            out = {"mean": (w @ np.where(valid, v, 0.0)) / sw}
            n_units, k = sw.shape
            for name, fill, reduce in (("min", np.inf, np.minimum), ("max", -np.inf, np.maximum)):
                res = np.full((n_units, k), np.nan)
                if self.starts.size:
                    gathered = np.where(valid, v, fill)[w.indices]
                    red = reduce.reduceat(gathered, self.starts, axis=0)
                    red[np.isinf(red)] = np.nan
                    res[self.nonempty] = red
                out[name] = res
            if threshold is not None:
                out["share_above"] = (w @ (valid & (v > threshold)).astype(np.float64)) / sw
                out["share_below"] = (w @ (valid & (v < threshold)).astype(np.float64)) / sw
            out["coverage"] = sw / self.areas[:, None]
        return out


def layer_count(sizes: list[int]) -> int:
    n = 1
    for s in sizes:
        n *= s
    return n


def iterate_blocks(source: Any, profile: Any, weights: LocalWeights, variables: list[str],
                   threshold: float | None,
                   progress: Callable[[int, int], None] | None = None) -> Iterator[Block]:
    """Statistics block by block, for every variable and layer."""
    if weights.window is None:
        return
    r0, r1, c0, c1 = weights.window
    cells = (r1 - r0) * (c1 - c0)
    # Bytes per layer: the block and its masks, the gathered cell values (min/max) and
    # the statistics of every unit.
    units, nnz = weights.matrix.shape[0], weights.matrix.nnz
    per_layer = 8 * (4 * cells + 2 * nnz + 8 * units)
    totals = {v: layer_count([len(profile.dimensions[d]) for d in profile.variable(v).dims])
              for v in variables}
    grand, done = sum(totals.values()), 0
    for name in variables:
        total = totals[name]
        var = profile.variable(name)
        inner = layer_count([len(profile.dimensions[d]) for d in var.dims[1:]])
        per_block = max(1, BLOCK_BYTES // per_layer)
        per_block = max(inner, per_block // inner * inner) if per_block >= inner else per_block
        for start in range(0, total, per_block):
            stop = min(total, start + per_block)
            block = source.read(name, start, stop, weights.window)
            yield Block(name, start, weights.apply(block.reshape(stop - start, -1), threshold))
            done += stop - start
            if progress is not None:
                progress(done, grand)
