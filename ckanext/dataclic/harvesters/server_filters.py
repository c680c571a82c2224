"""Ask each national API for one territory's rows only, with its own filter parameters.

Plain Python (no CKAN import), so that the benchmark can run it outside CKAN. Every function
takes the harvest's :class:`~.remote.RemoteClient`, a resolved perimeter (codes, communes,
geometry) and a :class:`Meter` that counts requests and bytes, and writes what the server
answered to a staged file (CSV for records, GeoJSON for features). What a server answers is
never trusted: :mod:`.local_cut` checks every row against the perimeter afterwards. Facts
about the APIs (parameter names, code caps, paging depth) come from ``API-FILTERS.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from ckanext.dataclic.remote import RemoteClient, RemoteError, full_url

from .metered import (
    CsvPages,
    CsvSpool,
    Meter,
    Staged,
    chunks,
    download,
    get_json,
    get_with_headers,
    join_exports,
    new_file,
    next_link,
    post_form_json,
    staged_csv,
)
from .wfs_paging import feature_pages, write_feature_collection

# Hub'Eau: page-number paging stops at page × size = 20,000 rows.
HUBEAU_DEPTH = 20_000
# Codes per request where an API gives no cap (data-fair, Opendatasoft): keeps URLs short.
DEFAULT_CODES_PER_REQUEST = 200
# cql_filter longer than this goes in a POST body (as IGN's APICarto does).
WFS_POST_OVER = 1500
# Vertices of the polygon sent to a server (the exact cut is local).
SERVER_POLYGON_TOLERANCE_DEG = 0.002


def commune_codes(perimeter: Any) -> list[str]:
    """Every code that identifies the perimeter's rows (current, former, arrondissements)."""
    return sorted(perimeter.codes)


def server_polygon(perimeter: Any) -> Any:
    """The perimeter simplified for a server filter (never for the exact cut)."""
    return perimeter.geometry.simplify(SERVER_POLYGON_TOLERANCE_DEG)


# -- data-fair (lines API) ----------------------------------------------------------------------
def datafair_lines(
    client: RemoteClient, lines_url: str, perimeter: Any, meter: Meter, folder: Path, *,
    code_column: str | None, geo: bool, page_size: int, cap: int,
) -> Staged:
    """``<code column>_in=`` lists (split every 200 codes) with ``after`` cursor paging
    (the ``Link: <…>; rel=next`` header of a CSV page): never page-number paging, capped at
    10,000 rows. Without a code column, a WGS84 ``bbox`` when the dataset is geolocated;
    otherwise every line (the local cut does all the work). Pages are asked in CSV
    (``format=csv``): a third of the bytes of JSON, and no row is parsed here: the pages
    are joined as they come (one header) and the local cut reads the file once."""
    if code_column:
        queries = [{f"{code_column}_in": ",".join(part)} for part in
                   chunks(commune_codes(perimeter), DEFAULT_CODES_PER_REQUEST)]
        method = "server-filter"
        detail = f"{code_column}_in=<{len(perimeter.codes)} codes>"
    elif geo:
        west, south, east, north = perimeter.bounds
        queries = [{"bbox": f"{west:.6f},{south:.6f},{east:.6f},{north:.6f}"}]
        method, detail = "server-filter", "bbox=<territory's bounding box>"
    else:
        queries, method, detail = [{}], "local-cut", "every line"
    path = new_file(folder, ".csv")
    joined = CsvPages(path, cap, lines_url)
    try:
        for query in queries:
            url: str | None = full_url(lines_url, {**query, "size": page_size, "format": "csv"})
            seen: set[str] = set()
            while url:
                if url in seen:
                    raise RemoteError(url, "paging loops back to a page already read")
                seen.add(url)
                body, headers = get_with_headers(client, url, meter, {"Accept": "text/csv"})
                received = joined.add(body, url)
                following = next_link(headers.get("link", ""))
                url = urljoin(url, following) if following and received else None
    except BaseException:
        joined.close()
        path.unlink(missing_ok=True)
        raise
    joined.close()
    meter.rows += joined.rows
    return Staged(path, joined.rows, joined.columns, method, detail)


# -- Hub'Eau -------------------------------------------------------------------------------------
# endpoint path fragment → (commune parameter, codes per request), from API-FILTERS.md §3.
HUBEAU_COMMUNE_PARAMS: list[tuple[str, str, int]] = [
    ("hydrometrie/referentiel/stations", "code_commune_station", DEFAULT_CODES_PER_REQUEST),
    ("hydrometrie/referentiel/sites", "code_commune_site", DEFAULT_CODES_PER_REQUEST),
    ("qualite_eau_potable", "code_commune", 20),
    ("niveaux_nappes/stations", "code_commune", 200),
    ("ecoulement", "code_commune", 200),
    ("qualite_rivieres", "code_commune", 200),
]
# endpoints without any commune or département parameter (bbox only, or nothing)
HUBEAU_BBOX_ONLY = ("hydrometrie/obs_elab", "hydrometrie/observations_tr",
                    "niveaux_nappes/chroniques_tr")


def hubeau_plan(endpoint: str, perimeter: Any, departements: list[str]) -> tuple[
        list[dict[str, str]], int, str, str]:
    """The queries for one territory: (query params list, codes per request, method, the
    row column that holds the commune code)."""
    path = endpoint.strip("/")
    if any(fragment in path for fragment in HUBEAU_BBOX_ONLY):
        west, south, east, north = perimeter.bounds
        return ([{"bbox": f"{west:.6f},{south:.6f},{east:.6f},{north:.6f}"}], 1,
                "server-filter", "")
    param, cap = "code_commune", 200
    for fragment, name, limit in HUBEAU_COMMUNE_PARAMS:
        if fragment in path:
            param, cap = name, limit
            break
    if perimeter.kind in ("departement", "region") and "communes_udi" not in path:
        return ([{"code_departement": ",".join(part)} for part in chunks(departements, cap)],
                cap, "server-filter", param)
    return ([{param: ",".join(part)} for part in chunks(commune_codes(perimeter), cap)],
            cap, "server-filter", param)


def hubeau_records(
    client: RemoteClient, url: str, endpoint: str, base_params: dict[str, Any],
    perimeter: Any, departements: list[str], meter: Meter, folder: Path, *,
    page_size: int, cap: int,
) -> Staged:
    """The endpoint's commune (or département) parameter, long lists split at the
    parameter's cap; a query whose ``count`` is over the 20,000-row paging depth is split
    in two, down to one code."""
    queries, _cap, method, column = hubeau_plan(endpoint, perimeter, departements)
    spool = CsvSpool(folder, cap, url)
    size = min(page_size, HUBEAU_DEPTH)
    try:
        pending = list(queries)
        while pending:
            query = pending.pop(0)
            params = {**base_params, **query, "size": size, "page": 1}
            first = get_json(client, url, params, meter)
            count = first.get("count") if isinstance(first, dict) else None
            if isinstance(count, int) and count > HUBEAU_DEPTH:
                (key, value), = query.items()
                codes = value.split(",")
                if len(codes) > 1:
                    half = len(codes) // 2
                    pending[:0] = [{key: ",".join(codes[:half])}, {key: ",".join(codes[half:])}]
                    continue
                raise RemoteError(full_url(url, params), (
                    f"{count} rows for {key}={value}, over Hub'Eau's {HUBEAU_DEPTH}-row "
                    "paging depth; narrow the query with 'params' (dates…)"), 200)
            _hubeau_pages(client, url, params, first, spool, meter)
        meter.rows += spool.rows
        detail = ", ".join(sorted({k for q in queries for k in q})) + \
            f" ({len(queries)} request group(s))"
        staged = staged_csv(folder, spool, method, detail)
        staged.columns = staged.columns or []
        if column and column not in staged.columns:
            meter.notes.append(f"rows carry no {column} column")
        return staged
    finally:
        spool.close()


def _hubeau_pages(client: RemoteClient, url: str, params: dict[str, Any], first: Any,
                  spool: CsvSpool, meter: Meter) -> None:
    payload, current = first, full_url(url, params)
    seen = {current}
    while True:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise RemoteError(current, "the answer has no 'data' list", 200)
        spool.add(data)
        following = payload.get("next") if isinstance(payload, dict) else None
        if not (isinstance(following, str) and following and data):
            return
        current = urljoin(current, following)
        if current in seen:
            raise RemoteError(current, "paging loops back to a page already read")
        seen.add(current)
        payload = get_json(client, current, None, meter)


# -- Géorisques ------------------------------------------------------------------------------------
# endpoint → its département parameter (None: none; loop code_insee per commune).
GEORISQUES_DEPARTEMENT_PARAM: dict[str, str | None] = {
    "installations_classees": "departement",
    "cavites": "departement",
    "mvt": "departement",
    "ssp/instructions": "code_departement",
}


def georisques_records(
    client: RemoteClient, url: str, endpoint: str, base_params: dict[str, Any],
    perimeter: Any, departements: list[str], meter: Meter, folder: Path, *,
    page_size: int, cap: int, next_page: Callable[[Any, str], Any],
    codes_of: Callable[[str], set[str]] | None = None,
) -> Staged:
    """The endpoint's own territorial parameter: its département parameter for a
    département or région perimeter when it has one, else ``code_insee`` once per commune.
    Géorisques ignores unknown parameters silently: the local check drops what is outside."""
    path = endpoint.strip("/")
    dep_param = next((p for frag, p in GEORISQUES_DEPARTEMENT_PARAM.items() if frag in path),
                     None)
    if perimeter.kind in ("departement", "region") and dep_param:
        queries = [{dep_param: dep} for dep in departements]
        detail = f"{dep_param}=<{len(departements)} département(s)>"
    else:
        queries = [{"code_insee": code} for code in perimeter.communes]
        detail = f"code_insee, one request per commune ({len(queries)})"
    spool = CsvSpool(folder, cap, url)
    try:
        for query in queries:
            asked = _asked_codes(query, codes_of)
            params: dict[str, Any] | None = {**base_params, **query, "page_size": page_size}
            current = full_url(url, params)
            seen: set[str] = set()
            while current:
                if current in seen:
                    raise RemoteError(current, "paging loops back to a page already read")
                seen.add(current)
                payload = get_json(client, current, None, meter)
                data = payload.get("data") if isinstance(payload, dict) else None
                if not isinstance(data, list):
                    raise RemoteError(current, "the answer has no 'data' list", 200)
                meter.rows += len(data)
                spool.add(_of_commune(data, asked) if asked else data)
                following = next_page(payload, current) if data else None
                if following is None:
                    break
                current = full_url(url, following) if isinstance(following, dict) \
                    else urljoin(current, following)
        staged = staged_csv(folder, spool, "server-filter", detail)
        staged.rows = meter.rows
        return staged
    finally:
        spool.close()


GEORISQUES_CODE_FIELDS = ("code_insee", "codeInsee", "code_commune", "insee")


def _asked_codes(query: dict[str, Any], codes_of: Callable[[str], set[str]] | None
                 ) -> set[str] | None:
    code = query.get("code_insee")
    if code is None:
        return None
    return codes_of(code) if codes_of else {code}


def _of_commune(rows: list[Any], asked: set[str]) -> list[Any]:
    """A per-commune answer holds that commune's rows only: the same national page sent
    back for every commune (an ignored parameter) must not be kept once per commune."""
    kept = []
    for row in rows:
        if not isinstance(row, dict):
            kept.append(row)  # reported by the spool
            continue
        field = next((f for f in GEORISQUES_CODE_FIELDS if f in row), None)
        if field is None or str(row[field] or "").strip() in asked:
            kept.append(row)
    return kept


# -- OGC WFS -----------------------------------------------------------------------------------
def _urn(crs: str) -> str:
    code = crs.rsplit(":", 1)[-1]
    return f"urn:ogc:def:crs:EPSG::{code}"


def wfs_filter(perimeter: Any, layer_crs: str, how: str, geometry_name: str) -> dict[str, str]:
    """``bbox`` in the layer's CRS, or a ``cql_filter`` INTERSECTS with the (simplified)
    perimeter in the layer's CRS."""
    from ckanext.dataclic.extract.spatial import perimeter_in

    shape = perimeter_in(server_polygon(perimeter), layer_crs)
    if how == "intersects":
        return {"cql_filter": f"INTERSECTS({geometry_name}, {shape.wkt})"}
    west, south, east, north = shape.bounds
    if layer_crs.upper() == "EPSG:4326":  # the URN's axis order is latitude first
        return {"bbox": f"{south!r},{west!r},{north!r},{east!r},{_urn(layer_crs)}"}
    return {"bbox": f"{west!r},{south!r},{east!r},{north!r},{_urn(layer_crs)}"}


def wfs_features(
    client: RemoteClient, url: str, layer: str, meter: Meter, folder: Path, *,
    perimeter: Any, layer_crs: str, how: str, geometry_name: str, srs_name: str,
    page_size: int, max_pages: int, cap: int,
) -> Staged:
    """GetFeature with the territory's filter, ``count``/``startIndex`` paging, in GeoJSON;
    a long ``cql_filter`` goes in a POST body."""
    territorial = wfs_filter(perimeter, layer_crs, how, geometry_name)
    long_filter = "cql_filter" in territorial and \
        len(territorial["cql_filter"]) > WFS_POST_OVER

    def fetch(params: dict[str, Any]) -> Any:
        if long_filter:
            return post_form_json(client, url, params, territorial, meter)
        return get_json(client, url, {**params, **territorial}, meter)

    path = new_file(folder, ".geojson")
    pages = feature_pages(fetch, url, layer, srs_name=srs_name, page_size=page_size,
                          max_pages=max_pages)
    done = write_feature_collection(path, pages, url=url, cap=cap,
                                    head={"type": "FeatureCollection", "name": layer})
    count, properties = done.count, done.properties
    meter.rows += count
    key = next(iter(territorial))
    detail = ("cql_filter INTERSECTS(" + geometry_name + ", <territory>)" if key == "cql_filter"
              else "bbox=<territory's bounding box>")
    return Staged(path, count, list(properties), "server-filter", detail)


# -- Opendatasoft Explore v2.1 -------------------------------------------------------------------
def _ods_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ods_wheres(perimeter: Any, code_field: str | None, geo_field: str | None) -> list[str]:
    """The ``where`` of each export: code lists split every 200 codes (GET only, so the
    list goes in the URL), or one ``intersects`` with the simplified perimeter."""
    if code_field:
        return [f"{code_field} IN ({', '.join(_ods_quote(c) for c in part)})"
                for part in chunks(commune_codes(perimeter), DEFAULT_CODES_PER_REQUEST)]
    if geo_field:
        return [f"intersects({geo_field}, geom'{server_polygon(perimeter).wkt}')"]
    return []


def ods_export(
    client: RemoteClient, export_url: str, perimeter: Any, meter: Meter, folder: Path,
    suffix: str, *, code_field: str | None, geo_field: str | None, cap: int,
    extra: dict[str, str] | None = None,
) -> tuple[Path, str, str]:
    """``/exports/{format}`` (no 10,000-row cap, unlike ``/records``) with ``where`` =
    ``<code field> IN (…)`` or ``intersects(<geo field>, geom'<WKT>')``; several code lists
    give several exports joined into one file. Returns (path, method, detail)."""
    wheres = ods_wheres(perimeter, code_field, geo_field) or [None]
    path = new_file(folder, suffix)
    parts: list[Path] = []
    try:
        for where in wheres:
            params = dict(extra or {})
            if where:
                params["where"] = where
            part = new_file(folder, suffix)
            parts.append(part)
            download(client, export_url, part, meter, params, cap)
        join_exports(parts, path, suffix)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    if code_field:
        return path, "server-filter", f"where={code_field} IN (<{len(perimeter.codes)} codes>)"
    if geo_field:
        return path, "server-filter", f"where=intersects({geo_field}, <territory>)"
    return path, "local-cut", "the whole export"

