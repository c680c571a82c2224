"""Writers of per-territory grid statistics: CSV (long or wide), GeoJSON, GeoPackage."""

from __future__ import annotations

import csv
import io
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


def _csv_options(delimiter: str, texts: Iterable[str]) -> Any:
    """Arrow CSV options: strings unquoted unless one of ``texts`` needs quotes."""
    import pyarrow.csv as pacsv

    special = (delimiter, '"', "\n", "\r")
    needed = any(c in t for t in texts for c in special)
    return pacsv.WriteOptions(delimiter=delimiter, include_header=False,
                              quoting_style="needed" if needed else "none")


def _header(fh: Any, names: list[str], delimiter: str) -> None:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\n").writerow(names)
    fh.write(text.getvalue().encode("utf-8"))


def _repeat(values: list[str], indices: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, dtype=np.int32)),
                                          pa.array(values, type=pa.string()))


def write_long_csv(path: Path, units: list[Unit], labels: LayerLabels, stats: list[str],
                   blocks: Iterable[Block], delimiter: str) -> int:
    """One row per (unit, variable, labels, statistic); written block by block with Arrow's
    CSV writer (numbers in their shortest exact form, empty when there is no value)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    texts = [*(u.level for u in units), *(u.code for u in units), *(u.name for u in units),
             *labels.profile.variable_names(), *stats,
             *(label for d in labels.dims for label in labels.profile.dimensions[d])]
    options = _csv_options(delimiter, texts)
    n_units, n_stats = len(units), len(stats)
    unit_idx = np.repeat(np.arange(n_units), n_stats)
    stat_idx = np.tile(np.arange(n_stats), n_units)
    rows = 0
    with path.open("wb") as fh:
        _header(fh, ["level", "code", "name", "variable", *labels.dims, "statistic", "value"],
                delimiter)
        for block in blocks:
            k = block.values[stats[0]].shape[1]
            # values[layer, unit, stat]
            values = np.stack([block.values[s] for s in stats], axis=-1).transpose(1, 0, 2)
            lab = [labels.labels(block.variable, block.start + j) for j in range(k)]
            columns = [
                _repeat([u.level for u in units], np.tile(unit_idx, k)),
                _repeat([u.code for u in units], np.tile(unit_idx, k)),
                _repeat([u.name for u in units], np.tile(unit_idx, k)),
                _repeat([block.variable], np.zeros(k * n_units * n_stats)),
            ]
            for dim in labels.dims:
                texts = [entry.get(dim, "") for entry in lab]
                columns.append(_repeat(texts, np.repeat(np.arange(k), n_units * n_stats)))
            columns.append(_repeat(stats, np.tile(stat_idx, k)))
            columns.append(pa.array(values.ravel(), from_pandas=True))
            names = [f"c{i}" for i in range(len(columns))]
            pacsv.write_csv(pa.table(columns, names=names), fh, write_options=options)
            rows += k * n_units * n_stats
    return rows


def wide_table(units: list[Unit], labels: LayerLabels, stats: list[str],
               blocks: Iterable[Block]) -> tuple[list[str], list[Any]]:
    """Column names and per-unit value columns (float arrays) of the wide layout."""
    names: list[str] = []
    columns: list[Any] = []
    for block in blocks:
        k = block.values[stats[0]].shape[1]
        for j in range(k):
            for stat in stats:
                names.append(labels.column(block.variable, block.start + j, stat))
                columns.append(block.values[stat][:, j].copy())
    return names, columns


def write_wide_csv(path: Path, units: list[Unit], names: list[str], columns: list[Any],
                   delimiter: str) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table([pa.array([u.level for u in units]), pa.array([u.code for u in units]),
                      pa.array([u.name for u in units]),
                      *(pa.array(c, from_pandas=True) for c in columns)],
                     names=[f"c{i}" for i in range(3 + len(columns))])
    with path.open("wb") as fh:
        _header(fh, ["level", "code", "name", *names], delimiter)
        texts = [*(u.level for u in units), *(u.code for u in units), *(u.name for u in units)]
        pacsv.write_csv(table, fh, write_options=_csv_options(delimiter, texts))
    return len(units)


def write_features(path: Path, fmt: str, units: list[Unit], geometries: list[Any],
                   names: list[str], columns: list[Any], layer: str) -> int:
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
        arrays.append(pa.array(col, type=pa.float64(), from_pandas=True))
    arrays.append(pa.array(shapely.to_wkb(geoms), type=pa.binary()))
    table = pa.table(arrays, names=["level", "code", "name", *names, "geometry"])
    driver = "GeoJSON" if fmt == "geojson" else "GPKG"
    write_arrow(table, str(path), layer=layer, driver=driver, geometry_name="geometry",
                geometry_type="MultiPolygon", crs="EPSG:4326",
                encoding="UTF-8" if driver != "GPKG" else None)
    return len(units)
