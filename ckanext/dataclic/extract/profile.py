"""The extraction profile: how a file is tied to territory, detected and overridable."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from .errors import N_, ExtractionError
from .sniff import check_zip, read_csv_layout, sniff_format

CODE_COLUMN_NAMES = (
    "code_insee", "insee", "codgeo", "code_geo", "code_commune", "cod_commune", "depcom",
    "insee_com", "com_code", "code_insee_ban", "code_insee_commune", "code_commune_insee",
    "codeinsee", "codecommune", "codinsee", "insee_commune", "com_insee", "commune_insee",
    "num_insee", "c_insee", "inseecom", "cinsee", "codecom", "code_com", "citycode",
    "cog", "code_cog", "com",
)
LAT_NAMES = ("lat", "latitude", "laty", "lat_dg", "y_lat", "lat_wgs84", "latitude_wgs84",
             "coord_lat", "ylat", "geo_lat")
LON_NAMES = ("lon", "lng", "long", "longitude", "longx", "lon_dg", "x_lon", "lon_wgs84",
             "longitude_wgs84", "coord_lon", "xlong", "geo_lon")
X_NAMES = ("x", "coord_x", "coordonnee_x", "x_l93", "xl93", "x_lambert93", "x_lamb93", "coordx",
           "x_2154", "easting")
Y_NAMES = ("y", "coord_y", "coordonnee_y", "y_l93", "yl93", "y_lambert93", "y_lamb93", "coordy",
           "y_2154", "northing")
POINT_NAMES = ("geo_point", "geo_point_2d", "geopoint", "geo_point_2d_", "coordonnees",
               "coordinates", "geolocalisation", "point_geo", "position", "latlon", "lat_lon")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "geometrie", "geo_shape", "shape")
NOT_CODE_HINTS = ("siren", "siret", "postal", "cp", "code_postal", "codepostal", "tel", "phone",
                  "id", "annee", "year")

_POINT_RE = re.compile(r"^\s*\(?\s*-?\d+(?:[.]\d+)?\s*[,;]\s*-?\d+(?:[.]\d+)?\s*\)?\s*$")
_WKT_RE = re.compile(
    r"^\s*(SRID=\d+;\s*)?(MULTI)?(POINT|LINESTRING|POLYGON)|^\s*GEOMETRYCOLLECTION", re.IGNORECASE
)


class CodeOracle(Protocol):
    def is_known_code(self, code: str, *, pad: bool = True) -> bool: ...


def normalise_name(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@dataclass
class ExtractionProfile:
    """How a file is tied to territory. Serialisable: CKAN stores it next to a resource."""

    format: str
    encoding: str | None = None
    delimiter: str | None = None
    columns: list[str] = field(default_factory=list)
    layer: str | None = None
    code_column: str | None = None
    code_slice: tuple[int, int] | None = None
    geometry: str = "none"  # none | native | latlon | point_text | wkt
    geometry_column: str | None = None
    lat_column: str | None = None
    lon_column: str | None = None
    point_column: str | None = None
    wkt_column: str | None = None
    crs: str | None = None
    header_width: int | None = None
    data_width: int | None = None
    archive_member: str | None = None  # the data file read inside a ZIP archive

    @property
    def has_code(self) -> bool:
        return self.code_column is not None

    @property
    def has_geometry(self) -> bool:
        return self.geometry != "none"

    def default_mode(self) -> str:
        if self.has_code:
            return "filter"
        if self.has_geometry:
            return "intersects"
        raise ExtractionError(N_(
            "No commune-code column and no geometry were found in this file; "
            "name the code column (--code-column) or the coordinates (--lat/--lon)"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["code_slice"] = list(self.code_slice) if self.code_slice else None
        return data

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractionProfile:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ExtractionError(N_("Unknown profile field(s): {fields}"),
                                  fields=sorted(unknown))
        if "format" not in data:
            raise ExtractionError(N_("A profile needs a 'format'"))
        values = dict(data)
        if values.get("code_slice") is not None:
            values["code_slice"] = tuple(int(v) for v in values["code_slice"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> ExtractionProfile:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExtractionError(N_("The profile is not valid JSON: {reason}"),
                                  reason=exc.msg) from exc
        if not isinstance(data, dict):
            raise ExtractionError(N_("The profile must be a JSON object"))
        return cls.from_dict(data)


@dataclass
class ProfileOverrides:
    code_column: str | None = None
    code_slice: tuple[int, int] | None = None
    lat_column: str | None = None
    lon_column: str | None = None
    point_column: str | None = None
    wkt_column: str | None = None
    crs: str | None = None
    layer: str | None = None
    encoding: str | None = None
    delimiter: str | None = None


def _known_ratio(values: list[str], oracle: CodeOracle, cut: tuple[int, int] | None,
                 *, strict: bool = False) -> float:
    """Share of the non-empty values that are known commune codes. ``strict`` (for columns
    chosen by their values alone) wants exactly five characters: four-digit integers such
    as altitudes or counts would otherwise pass as codes that lost their leading zero."""
    values = [v.strip() for v in values if v and v.strip()]
    if not values:
        return 0.0
    total = min(len(values), 500)
    if cut:
        values = [v[cut[0]: cut[1]] for v in values if len(v) >= cut[1]]
    elif strict:
        values = [v for v in values if len(v) == 5]
    else:
        values = [v for v in values if 4 <= len(v) <= 5]
    if not values:
        return 0.0
    hits = sum(1 for v in values[:500] if oracle.is_known_code(v))
    return hits / total


def find_code_column(
    columns: list[str], samples: dict[str, list[str]], oracle: CodeOracle
) -> tuple[str | None, tuple[int, int] | None]:
    """A commune-code column by name and by values, or a derived code (first 5 chars)."""
    names = {c: normalise_name(c) for c in columns}
    by_name = [c for c in columns if names[c] in CODE_COLUMN_NAMES]
    by_name.sort(key=lambda c: CODE_COLUMN_NAMES.index(names[c]))
    for col in by_name:
        if _known_ratio(samples.get(col, []), oracle, None) >= 0.5:
            return col, None
    hinted = [c for c in columns if "insee" in names[c] or "commune" in names[c]
              or names[c].startswith(("code", "cod", "com"))]
    rest = [c for c in columns if c not in hinted]
    for col in hinted + rest:
        if col in by_name or any(h == names[col] or names[col].startswith(h + "_")
                                 for h in NOT_CODE_HINTS):
            continue
        if _known_ratio(samples.get(col, []), oracle, None, strict=True) >= 0.8:
            return col, None
    # Derived codes: identifiers whose first five characters are the commune code
    # (Météo-France NUM_POSTE, some station ids).
    for col in columns:
        if any(h == names[col] or names[col].startswith(h) for h in ("siren", "siret")):
            continue
        vals = [v.strip() for v in samples.get(col, []) if v and v.strip()]
        if len(vals) < 3 or not all(len(v) > 5 and v[:5].replace("A", "0").replace(
                "B", "0").isdigit() for v in vals[:200]):
            continue
        if _known_ratio(vals, oracle, (0, 5)) >= 0.9:
            return col, (0, 5)
    return None, None


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    names = {normalise_name(c): c for c in columns}
    for w in wanted:
        if w in names:
            return names[w]
    return None


def _as_float(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", "."))
    except (ValueError, AttributeError):
        return None


def guess_xy_crs(xs: list[float], ys: list[float], names: tuple[str, str]) -> str:
    hint = " ".join(names).lower()
    if "3857" in hint or "merc" in hint:
        return "EPSG:3857"
    if "l93" in hint or "lamb" in hint or "2154" in hint:
        return "EPSG:2154"
    if xs and all(-180 <= x <= 180 for x in xs) and all(-90 <= y <= 90 for y in ys):
        return "EPSG:4326"
    if ys and all(6_000_000 <= y <= 7_200_000 for y in ys) and all(0 < x < 1_300_000 for x in xs):
        return "EPSG:2154"
    return "EPSG:3857"


def _pick_token(columns: list[str], tokens: set[str]) -> str | None:
    """The only column whose name holds one of ``tokens`` (e.g. latitude_station)."""
    found = [c for c in columns if tokens & set(normalise_name(c).split("_"))]
    return found[0] if len(found) == 1 else None


def find_csv_geometry(columns: list[str], samples: dict[str, list[str]]) -> dict[str, Any]:
    lat, lon = _pick(columns, LAT_NAMES), _pick(columns, LON_NAMES)
    if not (lat and lon):
        lat = _pick_token(columns, {"lat", "latitude"})
        lon = _pick_token(columns, {"lon", "lng", "long", "longitude"})
    if lat and lon:
        return {"geometry": "latlon", "lat_column": lat, "lon_column": lon, "crs": "EPSG:4326"}
    x, y = _pick(columns, X_NAMES), _pick(columns, Y_NAMES)
    if x and y:
        xs = [v for v in (_as_float(s) for s in samples.get(x, [])[:200]) if v is not None]
        ys = [v for v in (_as_float(s) for s in samples.get(y, [])[:200]) if v is not None]
        return {"geometry": "latlon", "lat_column": y, "lon_column": x,
                "crs": guess_xy_crs(xs, ys, (x, y))}
    for col in columns:
        vals = [v for v in samples.get(col, []) if v and v.strip()][:100]
        if vals and sum(1 for v in vals if _POINT_RE.match(v)) >= 0.9 * len(vals):
            named = normalise_name(col) in POINT_NAMES or "geo" in normalise_name(col)
            if named or "," in vals[0]:
                return {"geometry": "point_text", "point_column": col, "crs": "EPSG:4326"}
    for col in columns:
        vals = [v for v in samples.get(col, []) if v and v.strip()][:100]
        if vals and sum(1 for v in vals if _WKT_RE.match(v)) >= 0.9 * len(vals):
            return {"geometry": "wkt", "wkt_column": col, "crs": "EPSG:4326"}
    return {}


def _apply_overrides(profile: ExtractionProfile, ov: ProfileOverrides) -> ExtractionProfile:
    cols = profile.columns

    def check(col: str | None, what: str) -> None:
        if col is not None and col not in cols:
            shown = ", ".join(cols[:30])
            raise ExtractionError(N_("No column named {column} for {what}; columns are: "
                                     "{columns}"), column=repr(col), what=what,
                                  columns=shown, translated_values=("what",))

    changes: dict[str, Any] = {}
    if ov.code_column:
        check(ov.code_column, N_("the commune code"))
        changes.update(code_column=ov.code_column, code_slice=ov.code_slice)
    elif ov.code_slice:
        changes["code_slice"] = ov.code_slice
    if ov.lat_column or ov.lon_column:
        if not (ov.lat_column and ov.lon_column):
            raise ExtractionError(N_("Give both the latitude and the longitude columns "
                                     "(--lat and --lon)"))
        check(ov.lat_column, N_("the latitude"))
        check(ov.lon_column, N_("the longitude"))
        changes.update(geometry="latlon", lat_column=ov.lat_column, lon_column=ov.lon_column,
                       point_column=None, wkt_column=None)
    if ov.point_column:
        check(ov.point_column, "point")
        changes.update(geometry="point_text", point_column=ov.point_column)
    if ov.wkt_column:
        check(ov.wkt_column, "WKT geometry")
        changes.update(geometry="wkt", wkt_column=ov.wkt_column)
    if ov.crs:
        changes["crs"] = normalise_crs(ov.crs)
    return replace(profile, **changes)


def normalise_crs(crs: str | int) -> str:
    text = str(crs).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    if text.upper() in ("EPSG:4326", "WGS84", "OGC:CRS84"):
        return "EPSG:4326"  # the default: no need to import pyproj to know it
    try:
        from pyproj import CRS

        parsed = CRS.from_user_input(text)
    except Exception as exc:  # pyproj raises CRSError and others
        raise ExtractionError(N_("Unknown coordinate reference system: {crs}"),
                              crs=crs) from exc
    code = text.upper().removeprefix("EPSG:")
    if text.upper().startswith("EPSG:") and code.isdigit():
        return f"EPSG:{int(code)}"  # a known EPSG code already: no identification needed
    epsg = parsed.to_epsg()
    return f"EPSG:{epsg}" if epsg else parsed.to_wkt()


def detect_profile(
    path: str | Path,
    oracle: CodeOracle,
    overrides: ProfileOverrides | None = None,
) -> ExtractionProfile:
    """Detect how ``path`` is tied to territory; ``overrides`` win over detection."""
    from .archive import data_file

    ov = overrides or ProfileOverrides()
    with data_file(Path(path)) as (readable, member):
        fmt = sniff_format(readable)
        if fmt == "csv":
            profile = _detect_csv(readable, oracle, ov)
        elif fmt == "json":
            profile = _detect_json_records(readable, oracle)
        elif fmt == "parquet":
            profile = _detect_parquet(readable, oracle)
        else:
            profile = _detect_ogr(readable, fmt, oracle, ov.layer)
    if member is not None:
        profile = replace(profile, archive_member=member)
    return _apply_overrides(profile, ov)


def _detect_csv(path: Path, oracle: CodeOracle, ov: ProfileOverrides) -> ExtractionProfile:
    layout = read_csv_layout(path, ov.encoding, ov.delimiter)
    columns = list(layout.header)
    if layout.modal_width > len(columns):
        columns += [f"column_{i + 1}" for i in range(len(columns), layout.modal_width)]
    samples = {c: [r[i] if i < len(r) else "" for r in layout.sample_rows]
               for i, c in enumerate(columns)}
    code, cut = find_code_column(columns, samples, oracle)
    geo = find_csv_geometry(columns, samples)
    return ExtractionProfile(
        format="csv", encoding=layout.encoding, delimiter=layout.delimiter, columns=columns,
        code_column=code, code_slice=cut, header_width=len(layout.header),
        data_width=layout.modal_width, **geo,
    )


def _detect_json_records(path: Path, oracle: CodeOracle) -> ExtractionProfile:
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


def _detect_parquet(path: Path, oracle: CodeOracle) -> ExtractionProfile:
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


def _detect_ogr(path: Path, fmt: str, oracle: CodeOracle, layer: str | None) -> ExtractionProfile:
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
