"""Profile detection of the inputs that are not CSV text: JSON records, GeoParquet/Parquet
and every layer format OGR reads (GeoJSON, GeoPackage, Shapefile, FlatGeobuf…), plus the
layer helpers the readers and coverage share. Called by :func:`.profile.detect_profile`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import N_, ExtractionError
from .profile import (
    CodeOracle,
    ExtractionProfile,
    find_code_column,
    find_csv_geometry,
    normalise_crs,
)
from .sniff import check_zip


def detect_json_records(path: Path, oracle: CodeOracle) -> ExtractionProfile:
    records = load_json_records(path)
    columns: list[str] = []
    for rec in records[:200]:
        for k in rec:
            if k not in columns:
                columns.append(k)
    samples = {c: ["" if r.get(c) is None else str(r.get(c)) for r in records[:2000]]
               for c in columns}
    code, cut = find_code_column(columns, samples, oracle)
    geo = find_csv_geometry(columns, samples)
    return ExtractionProfile(format="json", encoding="utf-8", columns=columns,
                             code_column=code, code_slice=cut, **geo)


def load_json_records(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open("rb") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExtractionError(N_("{name} is not valid JSON"), name=path.name) from exc
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data[:1000]):
        raise ExtractionError(N_("{name}: a JSON input must be a list of objects or GeoJSON"),
                              name=path.name)
    return data


def detect_parquet(path: Path, oracle: CodeOracle) -> ExtractionProfile:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise ExtractionError(N_("{name} is not a readable Parquet file"),
                              name=path.name) from exc
    columns = list(pf.schema_arrow.names)
    geo_meta = parquet_geo_metadata(pf)
    sample = next(pf.iter_batches(batch_size=2000), None)
    samples: dict[str, list[str]] = {}
    if sample is not None:
        for c in columns:
            if c == (geo_meta or {}).get("primary_column"):
                continue
            col = sample.column(c)
            samples[c] = ["" if v is None else str(v) for v in col.to_pylist()]
    code, cut = find_code_column(columns, samples, oracle)
    if geo_meta:
        gcol = geo_meta["primary_column"]
        crs = geo_meta.get("crs") or "EPSG:4326"
        return ExtractionProfile(format="parquet", columns=columns, code_column=code,
                                 code_slice=cut, geometry="native", geometry_column=gcol,
                                 crs=crs)
    geo = find_csv_geometry(columns, samples)
    return ExtractionProfile(format="parquet", columns=columns, code_column=code,
                             code_slice=cut, **geo)


def parquet_geo_metadata(pf: Any) -> dict[str, Any] | None:
    meta = pf.schema_arrow.metadata or {}
    raw = meta.get(b"geo")
    if not raw:
        return None
    try:
        geo = json.loads(raw)
        primary = geo["primary_column"]
        colmeta = geo["columns"][primary]
    except (ValueError, KeyError, TypeError):
        return None
    crs = colmeta.get("crs")
    if isinstance(crs, dict):
        try:
            from pyproj import CRS

            epsg = CRS.from_json_dict(crs).to_epsg()
            crs = f"EPSG:{epsg}" if epsg else None
        except Exception:  # noqa: BLE001 - an unreadable CRS counts as none
            crs = None
    elif crs is not None:
        crs = normalise_crs(crs)
    return {"primary_column": primary, "crs": crs, "encoding": colmeta.get("encoding", "WKB")}


def ogr_source(path: Path, fmt: str) -> str:
    if path.suffix.lower() == ".zip" or (fmt == "shp" and path.suffix.lower() != ".shp"):
        inner = check_zip(path)
        return f"/vsizip/{path}/{inner}"
    if fmt == "geojsonseq":
        return f"GeoJSONSeq:{path}"
    return str(path)


SAMPLE_FEATURES = 500  # features read to recognise a commune-code column
_LAYER_INFO: dict[tuple[str, str | None, int, int], dict[str, Any]] = {}


def layer_info(path: Path, source: str, layer: str | None) -> dict[str, Any]:
    """pyogrio's description of a layer, remembered for this version of the file (profile
    detection and the reader both need it; each call opens the file again)."""
    import pyogrio

    st = path.stat()
    key = (source, layer, st.st_size, st.st_mtime_ns)
    if key not in _LAYER_INFO:
        if len(_LAYER_INFO) > 64:
            _LAYER_INFO.clear()
        info = pyogrio.read_info(source, layer=layer)
        _LAYER_INFO[key] = info
        if layer is None and info.get("layer_name"):  # the reader asks for it by name
            _LAYER_INFO[(source, str(info["layer_name"]), *key[2:])] = info
    return _LAYER_INFO[key]


def _sample(source: str, fmt: str, layer: str, columns: list[str] | None) -> Any:
    """The first features' attributes (of ``columns``, default all), as an Arrow table."""
    import pyogrio

    if fmt == "gpkg" and columns:
        # SQL with a LIMIT: the generic reader with max_features first counts every
        # feature of the layer (tens of ms on a large GeoPackage).
        from .readers import _quoted

        names = ", ".join(_quoted(c) for c in columns)
        return pyogrio.read_arrow(
            source, sql=f"SELECT {names} FROM {_quoted(layer)} LIMIT {SAMPLE_FEATURES}",
            batch_size=SAMPLE_FEATURES)[1]
    # batch_size: the Arrow stream would otherwise read 65,536 features first.
    return pyogrio.read_arrow(source, layer=layer, max_features=SAMPLE_FEATURES,
                              batch_size=SAMPLE_FEATURES, read_geometry=False,
                              columns=columns)[1]


def _has_geometries(source: str, layer: str) -> bool:
    """Whether the first features of ``layer`` carry geometries: OGR reports a layer mixing
    geometry types (Polygon and MultiPolygon, LineString and MultiLineString…) as "Unknown",
    like a layer without any."""
    import pyogrio

    try:
        meta, table = pyogrio.read_arrow(source, layer=layer, max_features=SAMPLE_FEATURES,
                                         batch_size=SAMPLE_FEATURES, columns=[])
    except (RuntimeError, OSError, ValueError):  # pyogrio's errors are RuntimeErrors
        return False
    name = meta.get("geometry_name") or "wkb_geometry"
    return name in table.column_names and table.column(name).null_count < table.num_rows


def detect_ogr(path: Path, fmt: str, oracle: CodeOracle, layer: str | None) -> ExtractionProfile:
    import pyogrio

    source = ogr_source(path, fmt)

    def layer_names() -> list[str]:
        try:
            return [str(x[0]) for x in pyogrio.list_layers(source)]
        except Exception as exc:
            raise ExtractionError(N_("{name} is not a readable {format} file"), name=path.name,
                                  format=fmt) from exc

    try:
        # Without a layer name, read_info describes the first layer (and names it).
        info = layer_info(path, source, layer)
    except Exception as exc:
        names = layer_names()
        if not names:
            raise ExtractionError(N_("{name} holds no layer"), name=path.name) from exc
        if layer is not None and layer not in names:
            raise ExtractionError(N_("No layer {layer} in {name}; layers are: {layers}"),
                                  layer=repr(layer), name=path.name, layers=names) from exc
        raise ExtractionError(N_("{name}: cannot read layer {layer} ({reason})"),
                              name=path.name, layer=repr(layer), reason=exc) from exc
    layer = str(info.get("layer_name") or layer or "")
    if not layer:
        names = layer_names()
        if not names:
            raise ExtractionError(N_("{name} holds no layer"), name=path.name)
        layer = names[0]
    # Commune codes are text or whole numbers: only those columns are sampled.
    types = info.get("ogr_types")
    sampled = [str(c) for c, t in zip(info["fields"], types, strict=False)
               if t in ("OFTString", "OFTInteger", "OFTInteger64")] if types is not None else None
    table = None
    if sampled is None or sampled:
        try:
            table = _sample(source, fmt, layer, sampled)
        except Exception as exc:
            raise ExtractionError(N_("{name}: cannot read layer {layer} ({reason})"),
                                  name=path.name, layer=repr(layer), reason=exc) from exc
    columns = [str(c) for c in info["fields"]]
    samples = {c: ["" if v is None else str(v) for v in table.column(c).to_pylist()]
               for c in columns if table is not None and c in table.column_names}
    code, cut = find_code_column(columns, samples, oracle)
    crs = info.get("crs")
    crs = normalise_crs(crs) if crs else "EPSG:4326"
    has_geom = (info.get("geometry_type") not in (None, "Unknown")
                or bool(info.get("geometry_name"))
                or (info.get("geometry_type") == "Unknown" and _has_geometries(source, layer)))
    geo: dict[str, Any] = {"geometry": "native", "crs": crs} if has_geom else {}
    if not has_geom:
        geo = find_csv_geometry(columns, samples)
    return ExtractionProfile(format=fmt, columns=columns, layer=layer, code_column=code,
                             code_slice=cut, **geo)
