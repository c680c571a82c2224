"""Commune x cell coverage weights: exact areas of each commune inside each grid cell.

Computed with vectorised shapely (GEOS) rectangle clipping: one ``clip_by_rect`` per
(commune, cell of its bounding box) pair, then the area of the clipped part, in the grid's
CRS. A commune smaller than a cell gets the cell(s) it lies in, with its true area, so no
commune is left without a value (unlike centroid methods at 8 km). The matrix is a CSR
matrix (rows: communes, columns: north-up cell numbers, values: m² in the grid CRS).

Weights are computed once per (grid, referential contours) and cached on disk (cache.py).
"""

from __future__ import annotations

from typing import Any

from .spec import GridSpec

PAIRS_PER_BATCH = 200_000
# Above this many (commune, cell) pairs the grid is too fine for exact per-commune weights
# of the perimeter (memory and time grow with it): the user is told instead.
MAX_PAIRS = 5_000_000


def candidate_pairs(grid: GridSpec, bounds: Any) -> tuple[Any, Any]:
    """(geometry index, cell number) of every cell of each geometry's bounding box that
    lies on the grid."""
    import numpy as np

    minx, miny, maxx, maxy = bounds.T
    c0 = np.clip(np.floor((minx - grid.x_min) / grid.dx), 0, grid.nx).astype(np.int64)
    c1 = np.clip(np.ceil((maxx - grid.x_min) / grid.dx), 0, grid.nx).astype(np.int64)
    r0 = np.clip(np.floor((grid.y_max - maxy) / grid.dy), 0, grid.ny).astype(np.int64)
    r1 = np.clip(np.ceil((grid.y_max - miny) / grid.dy), 0, grid.ny).astype(np.int64)
    ok = ~(np.isnan(minx) | np.isnan(maxx))
    ncol = np.where(ok, np.maximum(c1 - c0, 0), 0)
    nrow = np.where(ok, np.maximum(r1 - r0, 0), 0)
    counts = ncol * nrow
    if counts.sum() > MAX_PAIRS:
        from ..errors import N_, ExtractionError

        raise ExtractionError(
            N_("The grid is too fine for per-commune statistics of this perimeter "
               "({pairs} commune-cell pairs, at most {limit}); use a smaller perimeter, a "
               "coarser grid, or the clip mode"),
            pairs=f"{int(counts.sum()):,}", limit=f"{MAX_PAIRS:,}")
    geom = np.repeat(np.arange(len(bounds)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ncol_g = np.maximum(ncol[geom], 1)
    row = r0[geom] + offset // ncol_g
    col = c0[geom] + offset % ncol_g
    return geom, row * grid.nx + col


def coverage_matrix(grid: GridSpec, geoms: Any) -> Any:
    """CSR matrix (len(geoms) x grid.cells) of the area (grid CRS units²) of each geometry
    in each cell. ``geoms`` are in the grid's CRS."""
    import numpy as np
    import shapely
    from scipy import sparse

    geoms = np.asarray(geoms, dtype=object)
    geom_idx, cells = candidate_pairs(grid, shapely.bounds(geoms))
    areas = np.empty(len(cells), dtype=np.float64)
    rows, cols = cells // grid.nx, cells % grid.nx
    for s in range(0, len(cells), PAIRS_PER_BATCH):
        sl = slice(s, s + PAIRS_PER_BATCH)
        xmin = grid.x_min + cols[sl] * grid.dx
        ymax = grid.y_max - rows[sl] * grid.dy
        boxes = shapely.box(xmin, ymax - grid.dy, xmin + grid.dx, ymax)
        areas[sl] = shapely.area(shapely.intersection(geoms[geom_idx[sl]], boxes))
    keep = areas > 0
    return sparse.csr_matrix((areas[keep], (geom_idx[keep], cells[keep])),
                             shape=(len(geoms), grid.cells))
