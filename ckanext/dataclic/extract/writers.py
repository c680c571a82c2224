"""Output writers. Each writes to a temporary file in the destination folder; the engine
renames it to the final name only once the extraction is complete."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import N_, ExtractionError

FORMATS = ("csv", "geojson", "gpkg", "shp", "parquet")
EXTENSION_FORMATS = {
    ".csv": "csv", ".txt": "csv", ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg",
    ".zip": "shp", ".shp": "shp", ".parquet": "parquet", ".geoparquet": "parquet",
}


def format_from_path(path: Path, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ExtractionError(N_("Unknown output format {format}; choose one of {formats}"),
                                  format=repr(fmt), formats=FORMATS)
        return fmt
    found = EXTENSION_FORMATS.get(path.suffix.lower())
    if not found:
        raise ExtractionError(N_("Cannot tell the output format from {name}; choose one "
                                 "(--format): {formats}"), name=repr(path.name),
                              formats=FORMATS)
    return found


@dataclass
class Batch:
    """Rows to write: column names, then either Python rows or an Arrow table, and
    optionally one geometry per row (already in the output CRS): shapely geometries, or
    ``points_wkb``, an Arrow array of 2D point WKB passed through from the source."""

    columns: list[str]
    rows: list[list[Any]] | None = None
    table: Any = None
    geometries: Any = None
    extra: dict[str, list[Any]] = field(default_factory=dict)
    points_wkb: Any = None

    def has_geometry(self) -> bool:
        return self.geometries is not None or self.points_wkb is not None

    def shapes(self) -> Any:
        """The geometries as shapely objects."""
        if self.geometries is None and self.points_wkb is not None:
            import shapely

            self.geometries = shapely.from_wkb(self.points_wkb.to_numpy(zero_copy_only=False))
        return self.geometries

    def wkb(self) -> Any:
        """The geometries as an Arrow binary array of WKB."""
        import pyarrow as pa

        if self.points_wkb is not None:
            return self.points_wkb
        import shapely

        wkb = shapely.to_wkb(self.geometries) if len(self) else []
        return pa.array(wkb, type=pa.binary())

    def __len__(self) -> int:
        if self.rows is not None:
            return len(self.rows)
        return 0 if self.table is None else self.table.num_rows

    def all_columns(self) -> list[str]:
        return self.columns + [c for c in self.extra if c not in self.columns]

    def as_rows(self) -> list[list[Any]]:
        if self.rows is not None:
            base = self.rows
        else:
            cols = [self.table.column(c).to_pylist() for c in self.columns]
            base = [list(r) for r in zip(*cols, strict=True)] if cols else [
                [] for _ in range(len(self))]
        if not self.extra:
            return base
        extra = [self.extra[c] for c in self.all_columns()[len(self.columns):]]
        return [r + [e[i] for e in extra] for i, r in enumerate(base)]

    def as_table(self) -> Any:
        import pyarrow as pa

        if self.table is not None:
            table = self.table.select(self.columns)
        else:
            arrays = [pa.array([r[i] for r in self.rows or []], type=pa.string())
                      for i in range(len(self.columns))]
            table = pa.table(arrays, names=self.columns) if self.columns else pa.table({})
        for name in self.all_columns()[len(self.columns):]:
            table = table.append_column(name, pa.array(self.extra[name], type=pa.string()))
        return table


def temporary_path(destination: Path) -> Path:
    # The suffix is kept so that GDAL drivers recognise the file type.
    return destination.parent / (
        f".{destination.stem}.{uuid.uuid4().hex[:8]}.part{destination.suffix}")


class CsvSink:
    def __init__(self, path: Path, delimiter: str, with_geometry: bool) -> None:
        self.fh = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.fh, delimiter=delimiter, lineterminator="\n")
        self.with_geometry = with_geometry
        self.header_done = False

    def header(self, columns: list[str]) -> None:
        if not self.header_done:
            self.writer.writerow(columns + (["geometry"] if self.with_geometry else []))
            self.header_done = True

    def write_raw(self, columns: list[str], records: list[bytes]) -> None:
        """Records copied verbatim (UTF-8 input, same delimiter, no enrichment)."""
        self.header(columns)
        self.fh.flush()
        self.fh.buffer.write(b"".join(records))

    def write(self, batch: Batch) -> None:
        self.header(batch.all_columns())
        rows = batch.as_rows()
        if self.with_geometry:
            import shapely

            wkt = shapely.to_wkt(batch.shapes(), rounding_precision=-1) if len(rows) else []
            rows = [r + [w] for r, w in zip(rows, wkt, strict=True)]
        self.writer.writerows(["" if v is None else v for v in r] for r in rows)

    def close(self, columns: list[str]) -> None:
        self.header(columns)
        self.fh.close()


class GeoJsonSink:
    def __init__(self, path: Path, crs: str) -> None:
        self.fh = path.open("w", encoding="utf-8")
        self.fh.write('{"type":"FeatureCollection",')
        if crs != "EPSG:4326":
            name = f"urn:ogc:def:crs:EPSG::{crs.split(':')[-1]}"
            self.fh.write(json.dumps({"type": "name", "properties": {"name": name}}).join(
                ('"crs":', ",")))
        self.fh.write('"features":[\n')
        self.first = True

    def write(self, batch: Batch) -> None:
        import shapely

        cols = batch.all_columns()
        rows = batch.as_rows()
        geoms = (shapely.to_geojson(batch.shapes()) if batch.has_geometry()
                 else [None] * len(rows))
        out = io.StringIO()
        for row, g in zip(rows, geoms, strict=True):
            if not self.first:
                out.write(",\n")
            self.first = False
            props = json.dumps(dict(zip(cols, row, strict=True)), ensure_ascii=False,
                               default=str)
            geometry = g if g is not None else "null"
            out.write(f'{{"type":"Feature","properties":{props},"geometry":{geometry}}}')
        self.fh.write(out.getvalue())

    def close(self, columns: list[str]) -> None:
        self.fh.write("\n]}\n")
        self.fh.close()


def _geo_metadata(crs: str, column: str = "geometry") -> bytes:
    from pyproj import CRS

    meta = {"version": "1.0.0", "primary_column": column,
            "columns": {column: {"encoding": "WKB", "geometry_types": [],
                                 "crs": CRS.from_user_input(crs).to_json_dict()}}}
    return json.dumps(meta).encode()


class ParquetSink:
    def __init__(self, path: Path, crs: str, with_geometry: bool) -> None:
        self.path = path
        self.crs = crs
        self.with_geometry = with_geometry
        self.writer: Any = None
        self.schema: Any = None

    def _table(self, batch: Batch) -> Any:
        import pyarrow as pa

        table = batch.as_table()
        if self.with_geometry:
            table = table.append_column("geometry", batch.wkb().cast(pa.binary()))
        return table

    def _open(self, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                  for f in table.schema]
        schema = pa.schema(fields)
        if self.with_geometry:
            schema = schema.with_metadata({b"geo": _geo_metadata(self.crs)})
        self.schema = schema
        self.writer = pq.ParquetWriter(self.path, schema, compression="zstd")

    def write(self, batch: Batch) -> None:
        table = self._table(batch)
        if self.writer is None:
            self._open(table)
        try:
            table = table.cast(self.schema)
        except Exception as exc:
            raise ExtractionError(N_("Column types changed within the file ({reason})"),
                                  reason=exc) from exc
        self.writer.write_table(table)

    def close(self, columns: list[str]) -> None:
        if self.writer is None:
            self.write(Batch(columns=columns, rows=[],
                             geometries=[] if self.with_geometry else None))
        self.writer.close()


class OgrSink:
    """GeoPackage or Shapefile through GDAL (pyogrio), written batch by batch."""

    def __init__(self, path: Path, driver: str, crs: str, layer: str) -> None:
        self.path = path
        self.driver = driver
        self.crs = crs
        self.layer = layer
        self.started = False
        self.geometry_type: str | None = None

    def write(self, batch: Batch) -> None:
        import pyarrow as pa
        import shapely
        from pyogrio.raw import write_arrow

        if not batch.has_geometry():
            raise ExtractionError(N_("{driver} output needs geometries; this input has none"),
                                  driver=self.driver)
        if len(batch) == 0 and self.started:
            return
        table = batch.as_table()
        if batch.points_wkb is not None and self.geometry_type in (None, "Point"):
            self.geometry_type = "Point"
            wkb = batch.points_wkb.cast(pa.binary())
        else:
            geoms = batch.shapes()
            if self.geometry_type is None:
                self.geometry_type = _ogr_geometry_type(geoms, self.driver)
            if self.geometry_type.startswith("Multi"):
                geoms = _promote_multi(geoms)
            wkb = pa.array(shapely.to_wkb(geoms), type=pa.binary())
        table = table.append_column("geometry", wkb)
        write_arrow(table, str(self.path), layer=self.layer, driver=self.driver,
                    geometry_name="geometry", geometry_type=self.geometry_type, crs=self.crs,
                    append=self.started, encoding="UTF-8" if self.driver != "GPKG" else None)
        self.started = True

    def close(self, columns: list[str]) -> None:
        if not self.started:
            import numpy as np

            self.write(Batch(columns=columns, rows=[], geometries=np.array([], dtype=object)))


def _ogr_geometry_type(geoms: Any, driver: str) -> str:
    import shapely

    kinds = set(shapely.get_type_id(geoms).tolist()) if len(geoms) else set()
    kinds.discard(-1)
    if kinds <= {0}:
        return "Point"
    if kinds <= {1, 5}:
        return "MultiLineString"
    if kinds <= {3, 6}:
        return "MultiPolygon"
    if kinds <= {0, 4}:
        return "MultiPoint"
    if driver == "GPKG":
        return "Unknown"
    raise ExtractionError(N_("A Shapefile holds one geometry type; this output mixes "
                             "several"))


def _promote_multi(geoms: Any) -> Any:
    import numpy as np
    import shapely

    types = shapely.get_type_id(geoms)
    out = np.array(geoms, dtype=object)
    for single, multi in ((0, shapely.multipoints), (1, shapely.multilinestrings),
                          (3, shapely.multipolygons)):
        idx = np.flatnonzero(types == single)
        if idx.size:
            out[idx] = multi(out[idx], indices=np.arange(idx.size))
    return out


class ZippedShapefileSink:
    def __init__(self, path: Path, crs: str, stem: str) -> None:
        self.zip_path = path
        self.stem = stem
        self.folder = Path(tempfile.mkdtemp(prefix=".shp-", dir=path.parent))
        self.inner = OgrSink(self.folder / f"{stem}.shp", "ESRI Shapefile", crs, stem)

    def write(self, batch: Batch) -> None:
        self.inner.write(batch)

    def close(self, columns: list[str]) -> None:
        try:
            self.inner.close(columns)
            with zipfile.ZipFile(self.zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
                for part in sorted(self.folder.iterdir()):
                    zf.write(part, part.name)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def open_sink(fmt: str, tmp: Path, destination: Path, *, delimiter: str, crs: str,
              with_geometry: bool) -> Any:
    if fmt == "csv":
        return CsvSink(tmp, delimiter, with_geometry)
    if fmt == "geojson":
        return GeoJsonSink(tmp, crs)
    if fmt == "parquet":
        return ParquetSink(tmp, crs, with_geometry)
    if fmt == "gpkg":
        return OgrSink(tmp, "GPKG", crs, destination.stem)
    if fmt == "shp":
        return ZippedShapefileSink(tmp, crs, destination.stem)
    raise ExtractionError(N_("Unknown output format {format}"), format=repr(fmt))


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
