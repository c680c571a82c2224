"""A regular grid: its CRS, its edges, its cell size; and the SAFRAN 8 km grid of DRIAS.

Cells are numbered north-up, row by row: cell ``row * nx + col`` with row 0 the northern
row. Readers turn whatever orientation a file has into this one.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class GridSpec:
    crs: str
    x_min: float  # western edge of the first column
    y_max: float  # northern edge of the first (northern) row
    dx: float
    dy: float  # positive: rows go south
    nx: int
    ny: int

    @property
    def cells(self) -> int:
        return self.nx * self.ny

    @property
    def x_max(self) -> float:
        return self.x_min + self.nx * self.dx

    @property
    def y_min(self) -> float:
        return self.y_max - self.ny * self.dy

    def x_centres(self) -> Any:
        import numpy as np

        return self.x_min + (np.arange(self.nx) + 0.5) * self.dx

    def y_centres(self) -> Any:
        """Row centres, north first."""
        import numpy as np

        return self.y_max - (np.arange(self.ny) + 0.5) * self.dy

    def fingerprint(self) -> str:
        text = "|".join(f"{k}={v!r}" for k, v in sorted(asdict(self).items()))
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridSpec:
        return cls(str(data["crs"]), float(data["x_min"]), float(data["y_max"]),
                   float(data["dx"]), float(data["dy"]), int(data["nx"]), int(data["ny"]))

    @classmethod
    def from_centres(cls, crs: str, xs: Any, ys: Any) -> GridSpec | None:
        """From 1-D centre coordinates (any y order); None when they are not regular."""
        import numpy as np

        xs = np.asarray(xs, dtype=np.float64)
        ys = np.asarray(ys, dtype=np.float64)
        if xs.size < 2 or ys.size < 2:
            return None
        dx, dy = np.diff(xs), np.diff(ys)
        if not (np.allclose(dx, dx[0], rtol=1e-6, atol=0) and np.allclose(dy, dy[0], rtol=1e-6,
                                                                          atol=0)):
            return None
        if dx[0] <= 0 or dy[0] == 0:
            return None
        step_x, step_y = float(dx[0]), abs(float(dy[0]))
        return cls(crs, float(xs.min()) - step_x / 2, float(ys.max()) + step_y / 2, step_x,
                   step_y, int(xs.size), int(ys.size))

    def window_of_cells(self, cells: Any) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1), half-open, of the box holding ``cells``."""
        import numpy as np

        cells = np.asarray(cells)
        rows, cols = cells // self.nx, cells % self.nx
        return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


# The SAFRAN grid (DRIAS-2020, Explore2, SIM2): 143 x 134 cells of 8 km in Lambert II
# étendu; cell edges x 56,000 -> 1,200,000 and y 1,613,000 -> 2,685,000.
SAFRAN = GridSpec("EPSG:27572", 56_000.0, 2_685_000.0, 8_000.0, 8_000.0, 143, 134)
SAFRAN_X0 = 60_000.0  # centre of the first (western) column
SAFRAN_Y0 = 1_617_000.0  # centre of the first (southern) row


def safran_point_cell(points: Any) -> Any:
    """North-up cell numbers of DRIAS text-export points (``Point = j * 143 + i``, 0-based,
    j counted from the southern row)."""
    import numpy as np

    points = np.asarray(points, dtype=np.int64)
    i, j = points % SAFRAN.nx, points // SAFRAN.nx
    return (SAFRAN.ny - 1 - j) * SAFRAN.nx + i
