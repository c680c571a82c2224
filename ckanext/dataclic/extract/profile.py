"""The extraction profile: how a file is tied to territory, detected and overridable."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from .errors import N_, ExtractionError
from .sniff import read_csv_layout, sniff_format

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
    from .layer_profiles import detect_json_records, detect_ogr, detect_parquet

    ov = overrides or ProfileOverrides()
    with data_file(Path(path)) as (readable, member):
        fmt = sniff_format(readable)
        if fmt == "csv":
            profile = _detect_csv(readable, oracle, ov)
        elif fmt == "json":
            profile = detect_json_records(readable, oracle)
        elif fmt == "parquet":
            profile = detect_parquet(readable, oracle)
        else:
            profile = detect_ogr(readable, fmt, oracle, ov.layer)
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
