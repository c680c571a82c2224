"""Peer tools doing the same extraction as the engine, one function per (tool, workload).

Run as ``python bench/extract_peers.py TOOL TASK INPUT OUTPUT PERIMETER_JSON``; the runner
(extract_bench.py) times each call as a separate process. TASK is ``codes`` (keep rows whose
code column is one of the perimeter codes), ``points_csv`` (lat/lon points inside the
perimeter), ``features`` (features of an OGR file intersecting the perimeter) or ``clip``
(polygons cut at the perimeter boundary).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _perimeter(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


# -- codes: W1 ---------------------------------------------------------------------------
def polars_codes(src: str, out: str, per: dict) -> None:
    import polars as pl

    (pl.scan_csv(src, separator=";", infer_schema=False)
     .filter(pl.col(per["code_column"]).is_in(per["codes"]))
     .sink_csv(out, separator=";"))


def duckdb_codes(src: str, out: str, per: dict) -> None:
    import duckdb

    codes = ", ".join(f"'{c}'" for c in per["codes"])
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{src}', delim=';', header=true, all_varchar=true) "
        f"WHERE {per['code_column']} IN ({codes})) TO '{out}' (HEADER, DELIMITER ';')"
    )


def pyarrow_codes(src: str, out: str, per: dict) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    with open(src, encoding="utf-8") as fh:
        names = fh.readline().rstrip("\n").split(";")
    reader = pacsv.open_csv(
        src, read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter=";"),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
    codes = pa.array(per["codes"])
    writer = None
    for batch in reader:
        kept = batch.filter(pc.is_in(batch.column(per["code_column"]), value_set=codes))
        if writer is None:
            writer = pacsv.CSVWriter(out, kept.schema,
                                     write_options=pacsv.WriteOptions(delimiter=";"))
        writer.write_batch(kept)
    writer.close()


def python_csv_codes(src: str, out: str, per: dict) -> None:
    import csv

    codes = set(per["codes"])
    with open(src, encoding="utf-8", newline="") as fin, \
            open(out, "w", encoding="utf-8", newline="") as fout:
        reader = csv.reader(fin, delimiter=";")
        writer = csv.writer(fout, delimiter=";", lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        k = header.index(per["code_column"])
        writer.writerows(row for row in reader if len(row) > k and row[k] in codes)


# -- points from CSV: W2 -------------------------------------------------------------------
def polars_shapely_points_csv(src: str, out: str, per: dict) -> None:
    import polars as pl
    import shapely

    geom = shapely.from_wkt(per["wkt"])
    shapely.prepare(geom)
    minx, miny, maxx, maxy = geom.bounds
    df = (pl.scan_csv(src, separator=";", infer_schema=False)
          .with_columns(pl.col("latitude").cast(pl.Float64).alias("_y"),
                        pl.col("longitude").cast(pl.Float64).alias("_x"))
          .filter(pl.col("_x").is_between(minx, maxx) & pl.col("_y").is_between(miny, maxy))
          .collect())
    mask = shapely.intersects_xy(geom, df["_x"].to_numpy(), df["_y"].to_numpy())
    df.filter(pl.Series(mask)).drop(["_x", "_y"]).write_csv(out, separator=";")


def duckdb_points_csv(src: str, out: str, per: dict) -> None:
    con = _duckdb_spatial()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{src}', delim=';', header=true, "
        f"types={{'latitude': 'DOUBLE', 'longitude': 'DOUBLE'}}) "
        f"WHERE ST_Intersects(ST_Point(longitude, latitude), ST_GeomFromText('{per['wkt']}'))) "
        f"TO '{out}' (HEADER, DELIMITER ';')"
    )


def python_csv_points_csv(src: str, out: str, per: dict) -> None:
    import csv

    import shapely
    from shapely import Point
    from shapely.prepared import prep

    geom = shapely.from_wkt(per["wkt"])
    pg = prep(geom)
    minx, miny, maxx, maxy = geom.bounds
    with open(src, encoding="utf-8", newline="") as fin, \
            open(out, "w", encoding="utf-8", newline="") as fout:
        reader = csv.reader(fin, delimiter=";")
        writer = csv.writer(fout, delimiter=";", lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        iy, ix = header.index("latitude"), header.index("longitude")
        for row in reader:
            x, y = float(row[ix]), float(row[iy])
            if minx <= x <= maxx and miny <= y <= maxy and pg.intersects(Point(x, y)):
                writer.writerow(row)


def geopandas_points_csv(src: str, out: str, per: dict) -> None:
    import geopandas as gpd
    import pandas as pd
    import shapely

    geom = shapely.from_wkt(per["wkt"])
    df = pd.read_csv(src, sep=";", dtype=str)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(
        df["longitude"].astype(float), df["latitude"].astype(float)), crs="EPSG:4326")
    kept = gdf[gdf.intersects(geom)]
    kept.drop(columns="geometry").to_csv(out, sep=";", index=False)


# -- OGR features: W2 GeoPackage / FlatGeobuf, W3 ------------------------------------------
def pyogrio_shapely_features(src: str, out: str, per: dict) -> None:
    import pyarrow as pa
    import pyogrio
    import shapely
    from pyogrio.raw import write_arrow

    geom = shapely.from_wkt(per["wkt_src"])
    shapely.prepare(geom)
    meta, table = pyogrio.read_arrow(src, bbox=geom.bounds)
    gname = meta["geometry_name"] or "wkb_geometry"
    geoms = shapely.from_wkb(table.column(gname).to_numpy(zero_copy_only=False))
    kept = table.filter(pa.array(shapely.intersects(geom, geoms)))
    write_arrow(kept, out, driver="GPKG", geometry_name=gname, geometry_type="Unknown",
                crs=meta["crs"])


def geopandas_features(src: str, out: str, per: dict) -> None:
    import geopandas as gpd
    import shapely

    geom = shapely.from_wkt(per["wkt_src"])
    gdf = gpd.read_file(src, mask=geom, engine="pyogrio", use_arrow=True)
    gdf.to_file(out, driver="GPKG", engine="pyogrio")


def duckdb_features(src: str, out: str, per: dict) -> None:
    con = _duckdb_spatial()
    minx, miny, maxx, maxy = per["bounds_src"]
    con.execute(
        f"COPY (SELECT * EXCLUDE geom, geom AS geometry FROM ST_Read('{src}', "
        f"spatial_filter_box={{'min_x': {minx}, 'min_y': {miny}, 'max_x': {maxx}, "
        f"'max_y': {maxy}}}::BOX_2D) WHERE ST_Intersects(geom, ST_GeomFromText("
        f"'{per['wkt_src']}'))) TO '{out}' (FORMAT GDAL, DRIVER 'GPKG')"
    )


def pyogrio_shapely_clip(src: str, out: str, per: dict) -> None:
    import pyarrow as pa
    import pyogrio
    import shapely
    from pyogrio.raw import write_arrow

    geom = shapely.from_wkt(per["wkt_src"])
    shapely.prepare(geom)
    meta, table = pyogrio.read_arrow(src, bbox=geom.bounds)
    gname = meta["geometry_name"] or "wkb_geometry"
    geoms = shapely.from_wkb(table.column(gname).to_numpy(zero_copy_only=False))
    keep = shapely.intersects(geom, geoms)
    cut = shapely.intersection(geoms[keep], geom)
    ok = shapely.get_dimensions(cut) == 2
    kept = table.filter(pa.array(keep)).filter(pa.array(ok))
    kept = kept.set_column(kept.column_names.index(gname), gname,
                           pa.array(shapely.to_wkb(cut[ok])))
    write_arrow(kept, out, driver="GPKG", geometry_name=gname, geometry_type="Unknown",
                crs=meta["crs"])


def geopandas_clip(src: str, out: str, per: dict) -> None:
    import geopandas as gpd
    import shapely

    geom = shapely.from_wkt(per["wkt_src"])
    gdf = gpd.read_file(src, bbox=geom.bounds, engine="pyogrio", use_arrow=True)
    clipped = gpd.clip(gdf, geom)
    clipped = clipped[clipped.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    clipped.to_file(out, driver="GPKG", engine="pyogrio")


def duckdb_clip(src: str, out: str, per: dict) -> None:
    con = _duckdb_spatial()
    minx, miny, maxx, maxy = per["bounds_src"]
    con.execute(
        f"COPY (SELECT * EXCLUDE (geom, g), g AS geometry FROM (SELECT *, ST_Intersection(geom, "
        f"ST_GeomFromText('{per['wkt_src']}')) AS g FROM ST_Read('{src}', "
        f"spatial_filter_box={{'min_x': {minx}, 'min_y': {miny}, 'max_x': {maxx}, "
        f"'max_y': {maxy}}}::BOX_2D) WHERE ST_Intersects(geom, ST_GeomFromText("
        f"'{per['wkt_src']}'))) WHERE ST_Dimension(g) = 2) TO '{out}' (FORMAT GDAL, "
        f"DRIVER 'GPKG')"
    )


def _duckdb_spatial():
    """DuckDB with its spatial extension loaded offline from the duckdb-ext-spatial wheel."""
    import duckdb
    import duckdb_ext

    root = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect(config={"extension_directory": str(root),
                                 "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    con.execute("LOAD spatial")
    return con


PEERS = {
    ("polars", "codes"): polars_codes,
    ("duckdb", "codes"): duckdb_codes,
    ("pyarrow", "codes"): pyarrow_codes,
    ("python-csv", "codes"): python_csv_codes,
    ("polars+shapely", "points_csv"): polars_shapely_points_csv,
    ("duckdb", "points_csv"): duckdb_points_csv,
    ("python-csv", "points_csv"): python_csv_points_csv,
    ("geopandas", "points_csv"): geopandas_points_csv,
    ("pyogrio+shapely", "features"): pyogrio_shapely_features,
    ("geopandas", "features"): geopandas_features,
    ("duckdb", "features"): duckdb_features,
    ("pyogrio+shapely", "clip"): pyogrio_shapely_clip,
    ("geopandas", "clip"): geopandas_clip,
    ("duckdb", "clip"): duckdb_clip,
}


if __name__ == "__main__":
    tool, task, src, out, per_path = sys.argv[1:6]
    PEERS[(tool, task)](src, out, _perimeter(per_path))
