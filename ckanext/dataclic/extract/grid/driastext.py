"""DRIAS text exports (``Point;Latitude;Longitude;Contexte;Période;<indicators>;``) rebuilt
onto the SAFRAN grid.

Points are numbered ``Point = j * 143 + i`` (0-based, i from the western column, j from the
southern row); their latitude/longitude are checked against the cell centres. The
``Contexte`` (scenario) and ``Période`` (horizon: REF, H1, H2, H3) columns become the
non-spatial dimensions ``contexte`` and ``periode``; every indicator column a variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import N_, ExtractionError
from .profile import GridOverrides, GridProfile, GridVariable
from .spec import SAFRAN, safran_point_cell

MAX_OFFSET_M = 1_000.0  # a point's lat/lon must lie this close to its cell centre


def _lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding).splitlines()
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1").splitlines()


def _number(text: str) -> float:
    text = text.strip().replace(",", ".")
    if not text or text.upper() in ("NA", "NAN"):
        return float("nan")
    return float(text)


class DriasTable:
    """The parsed export: header comments, indicators and one array per indicator."""

    def __init__(self, path: Path) -> None:
        import numpy as np

        lines = _lines(path)
        self.comments: list[str] = []
        header: list[str] | None = None
        body: list[list[str]] = []
        for line in lines:
            if not line.strip():
                continue
            if header is None:
                if line.startswith("#"):
                    self.comments.append(line.lstrip("#").strip())
                    continue
                cells = [c.strip() for c in line.rstrip().rstrip(";").split(";")]
                if [c.lower() for c in cells[:3]] != ["point", "latitude", "longitude"]:
                    raise ExtractionError(N_("{file}: expected a 'Point;Latitude;Longitude;"
                                             "Contexte;Période;…' header line"),
                                          file=path.name)
                header = cells
                continue
            if line.startswith("#"):
                continue
            body.append(line.rstrip().rstrip(";").split(";"))
        if header is None or len(header) < 6 or not body:
            raise ExtractionError(N_("{file}: no DRIAS indicator rows found"), file=path.name)
        self.indicators = header[5:]
        try:
            points = np.array([int(r[0]) for r in body], dtype=np.int64)
            lat = np.array([_number(r[1]) for r in body])
            lon = np.array([_number(r[2]) for r in body])
            values = np.array([[_number(v) for v in (r[5:] + [""] * len(self.indicators))
                                [:len(self.indicators)]] for r in body], dtype=np.float64)
        except (ValueError, IndexError) as exc:
            raise ExtractionError(N_("{file}: a row is not 'Point;Latitude;Longitude;"
                                     "Contexte;Période;values' ({reason})"),
                                  file=path.name, reason=exc) from exc
        if points.min() < 0 or points.max() >= SAFRAN.cells:
            raise ExtractionError(N_("{file}: point numbers outside the SAFRAN grid"),
                                  file=path.name)
        self._check_points(path, points, lat, lon)
        contexts = [r[3].strip() for r in body]
        periods = [r[4].strip() for r in body]
        self.contexts = list(dict.fromkeys(contexts))
        self.periods = list(dict.fromkeys(periods))
        ci = {c: i for i, c in enumerate(self.contexts)}
        pi = {p: i for i, p in enumerate(self.periods)}
        layer = np.array([ci[c] * len(self.periods) + pi[p] for c, p in zip(contexts, periods)])
        cells = safran_point_cell(points)
        n_layers = len(self.contexts) * len(self.periods)
        self.arrays: dict[str, Any] = {}
        for k, name in enumerate(self.indicators):
            grid = np.full((n_layers, SAFRAN.cells), np.nan)
            grid[layer, cells] = values[:, k]
            self.arrays[name] = grid.reshape(n_layers, SAFRAN.ny, SAFRAN.nx)
        self.units = self._units()

    def _check_points(self, path: Path, points: Any, lat: Any, lon: Any) -> None:
        import numpy as np
        from pyproj import Transformer

        i, j = points % SAFRAN.nx, points // SAFRAN.nx
        tr = Transformer.from_crs("EPSG:4326", SAFRAN.crs, always_xy=True)
        x, y = tr.transform(lon, lat)
        dist = np.hypot(x - (SAFRAN.x_min + (i + 0.5) * SAFRAN.dx),
                        y - (SAFRAN.y_min + (j + 0.5) * SAFRAN.dy))
        if not np.all(dist < MAX_OFFSET_M):
            raise ExtractionError(
                N_("{file}: the points' latitude/longitude do not match the SAFRAN 8 km "
                   "grid (up to {km} km off)"),
                file=path.name, km=f"{np.nanmax(dist) / 1000:.1f}")

    def _units(self) -> dict[str, str]:
        units: dict[str, str] = {}
        for line in self.comments:
            for name in self.indicators:
                if line.startswith(name) and "(" in line and line.rstrip().endswith(")"):
                    units.setdefault(name, line[line.rindex("(") + 1:-1].strip())
        return units


_TABLES: dict[tuple[str, int, int], DriasTable] = {}


def read_table(path: Path) -> DriasTable:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _TABLES:
        _TABLES.clear()
        _TABLES[key] = DriasTable(path)
    return _TABLES[key]


def detect_text(path: Path, ov: GridOverrides) -> GridProfile:
    table = read_table(path)
    dims = {"contexte": table.contexts, "periode": table.periods}
    variables = [GridVariable(n, ["contexte", "periode"], table.units.get(n, ""))
                 for n in table.indicators]
    crs_note = "SAFRAN grid (DRIAS text export: Point = j*143 + i)"
    return GridProfile("drias-text", SAFRAN.crs, crs_note, SAFRAN, variables, dims,
                       notes=["points rebuilt onto the SAFRAN 8 km grid"])


class TextSource:
    def __init__(self, path: Path, profile: GridProfile) -> None:
        self.profile = profile
        self.table = read_table(path)

    def close(self) -> None:
        pass

    def read(self, name: str, start: int, stop: int, window: tuple[int, int, int, int]) -> Any:
        r0, r1, c0, c1 = window
        return self.table.arrays[name][start:stop, r0:r1, c0:c1]
