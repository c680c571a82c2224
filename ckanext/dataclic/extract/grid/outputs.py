"""Writers of per-territory grid statistics: CSV (long or wide), GeoJSON, GeoPackage."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .stats import Block

STATS_FORMATS = ("csv", "geojson", "gpkg")


@dataclass
class Unit:
    level: str  # "commune" or "perimeter"
    code: str
    name: str


def number(value: float) -> str:
    return "" if value != value else format(float(value), ".10g")


class LayerLabels:
    """Labels of the flattened layers of each variable."""

    def __init__(self, profile: Any, variables: list[str]) -> None:
        self.profile = profile
        self.dims = list(dict.fromkeys(d for v in variables for d in profile.variable(v).dims))

    def labels(self, variable: str, index: int) -> dict[str, str]:
        import numpy as np

        var = self.profile.variable(variable)
        if not var.dims:
            return {}
        sizes = [len(self.profile.dimensions[d]) for d in var.dims]
        pos = np.unravel_index(index, sizes)
        return {d: self.profile.dimensions[d][int(p)] for d, p in zip(var.dims, pos)}

    def column(self, variable: str, index: int, statistic: str) -> str:
        labels = self.labels(variable, index)
        return "_".join([variable, *labels.values(), statistic])


def write_long_csv(path: Path, units: list[Unit], labels: LayerLabels, stats: list[str],
                   blocks: Iterable[Block], delimiter: str) -> int:
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow(["level", "code", "name", "variable", *labels.dims, "statistic",
                         "value"])
        for block in blocks:
            k = block.values[stats[0]].shape[1]
            for j in range(k):
                lab = labels.labels(block.variable, block.start + j)
                dim_cells = [lab.get(d, "") for d in labels.dims]
                columns = [[number(v) for v in block.values[s][:, j]] for s in stats]
                for u, unit in enumerate(units):
                    head = [unit.level, unit.code, unit.name, block.variable, *dim_cells]
                    for s, stat in enumerate(stats):
                        writer.writerow([*head, stat, columns[s][u]])
                rows += len(units) * len(stats)
    return rows


def wide_table(units: list[Unit], labels: LayerLabels, stats: list[str],
               blocks: Iterable[Block]) -> tuple[list[str], list[list[str]]]:
    """Column names and per-unit value columns (text) of the wide layout."""
    names: list[str] = []
    columns: list[list[str]] = []
    for block in blocks:
        k = block.values[stats[0]].shape[1]
        for j in range(k):
            for stat in stats:
                names.append(labels.column(block.variable, block.start + j, stat))
                columns.append([number(v) for v in block.values[stat][:, j]])
    return names, columns


def write_wide_csv(path: Path, units: list[Unit], names: list[str], columns: list[list[str]],
                   delimiter: str) -> int:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow(["level", "code", "name", *names])
        for u, unit in enumerate(units):
            writer.writerow([unit.level, unit.code, unit.name, *(c[u] for c in columns)])
    return len(units)


def write_features(path: Path, fmt: str, units: list[Unit], geometries: list[Any],
                   names: list[str], columns: list[list[str]], layer: str) -> int:
    """GeoJSON or GeoPackage, one feature per unit (WGS84 polygons), numbers as reals."""
    import numpy as np
    import pyarrow as pa
    import shapely
    from pyogrio import write_arrow

    from ..writers import _promote_multi

    geoms = _promote_multi(np.array(geometries, dtype=object))
    arrays = [pa.array([u.level for u in units]), pa.array([u.code for u in units]),
              pa.array([u.name for u in units])]
    for col in columns:
        arrays.append(pa.array([float(v) if v else None for v in col], type=pa.float64()))
    arrays.append(pa.array(shapely.to_wkb(geoms), type=pa.binary()))
    table = pa.table(arrays, names=["level", "code", "name", *names, "geometry"])
    driver = "GeoJSON" if fmt == "geojson" else "GPKG"
    write_arrow(table, str(path), layer=layer, driver=driver, geometry_name="geometry",
                geometry_type="MultiPolygon", crs="EPSG:4326",
                encoding="UTF-8" if driver != "GPKG" else None)
    return len(units)
