"""National-like data and fixture APIs for territorial harvest tests.

The national rows come from the real COG (../shared/data/cog): every Gironde commune and
one commune in seven elsewhere. Expected answers are computed here from the COG files
(EPCI members), never by the code under test. Each API comes in two flavours: one that
implements the filter parameters the harvester sends, one that ignores them (all of France).
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from typing import Any
from urllib.parse import urlencode

from .fixture_server import SHARED_DATA, Reply

COG = SHARED_DATA / "cog"
BORDEAUX_METROPOLE = "243300316"


@cache
def communes() -> list[dict[str, Any]]:
    rows = json.loads((COG / "communes.json").read_text(encoding="utf-8"))
    return [r for r in rows if r["type"] == "commune-actuelle" and r.get("zone") == "metro"]


@cache
def epci_members(siren: str = BORDEAUX_METROPOLE) -> frozenset[str]:
    for epci in json.loads((COG / "epci.json").read_text(encoding="utf-8")):
        if epci["code"] == siren:
            return frozenset(m["code"] for m in epci["membres"])
    raise KeyError(siren)


@cache
def national_codes() -> list[str]:
    """Gironde's communes and one in seven elsewhere (about 5,500 communes)."""
    return [c["code"] for i, c in enumerate(communes())
            if c["departement"] == "33" or i % 7 == 0]


def dpe_lines(per_gironde: int = 3) -> list[dict[str, Any]]:
    rows = []
    for code in national_codes():
        for n in range(per_gironde if code.startswith("33") else 1):
            rows.append({"numero_dpe": f"D{code}-{n}", "code_insee_ban": code,
                         "etiquette_dpe": "ABCDEFG"[(int(code[-2:]) + n) % 7]})
    return rows


def stations() -> list[dict[str, Any]]:
    return [{"code_station": f"S{code}", "libelle_station": f"Station {code}",
             "code_commune_station": code, "code_departement": code[:2]}
            for code in national_codes()]


def json_size(rows: list[dict[str, Any]]) -> int:
    return len(json.dumps(rows).encode())


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as data-fair writes CSV: a header, commas, quotes where needed."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# -- data-fair ------------------------------------------------------------------------------------
DPE_SCHEMA = [
    {"key": "numero_dpe", "type": "string"},
    {"key": "code_insee_ban", "type": "string", "x-originalName": "Code_INSEE_(BAN)",
     "x-refersTo": "http://rdf.insee.fr/def/geo#codeCommune"},
    {"key": "etiquette_dpe", "type": "string"},
]


def datafair_meta(ident: str) -> dict[str, Any]:
    return {"id": ident, "slug": ident, "title": "DPE Logements existants",
            "description": "Diagnostics de performance énergétique",
            "license": {"title": "Licence Ouverte / Open Licence"}, "keywords": ["dpe"],
            "dataUpdatedAt": "2026-11-01T00:00:00Z", "schema": DPE_SCHEMA,
            "file": {"name": f"{ident}.csv"}}


def datafair_routes(server: Any, rows: list[dict[str, Any]], *, honour: bool,
                    ident: str = "dpe03existant", original_names: bool = False) -> None:
    """``original_names``: CSV pages head columns with their ``x-originalName``."""
    base = f"/data-fair/api/v1/datasets/{ident}"

    def lines(query: dict[str, list[str]]) -> Reply:
        size, after = int(query["size"][0]), int(query.get("after", ["0"])[0])
        if "page" in query:
            return Reply.json({"error": "page paging is limited"}, 400)
        selected = rows
        if honour:
            for key, values in query.items():
                if key.endswith("_in"):
                    wanted = set(values[0].split(","))
                    selected = [r for r in selected if r[key[:-3]] in wanted]
        page = selected[after:after + size]
        following = None
        if after + size < len(selected):
            params = {k: v[0] for k, v in query.items() if k != "after"}
            following = f"{server.url}{base}/lines?{urlencode({**params, 'after': after + size})}"
        if query.get("format") == ["csv"]:  # the next page in a Link header
            link = {"Link": f'<{following}>; rel="next"'} if following else {}
            names = {f["key"]: f.get("x-originalName", f["key"]) for f in DPE_SCHEMA} \
                if original_names else {}
            named = [{names.get(k, k): v for k, v in row.items()} for row in page]
            return Reply(200, csv_text(named).encode(), {"Content-Type": "text/csv", **link})
        return Reply.json({"total": len(selected), "results": page, "next": following})

    server.routes[base] = lambda _q: Reply.json(datafair_meta(ident))
    server.routes[f"{base}/lines"] = lines


# -- Hub'Eau -------------------------------------------------------------------------------------
def hubeau_routes(server: Any, rows: list[dict[str, Any]], *, honour: bool,
                  path: str = "/api/v2/hydrometrie/referentiel/stations",
                  code_cap: int = 200) -> None:
    def route(query: dict[str, list[str]]) -> Reply:
        selected = rows
        if honour:
            for param, column in (("code_commune_station", "code_commune_station"),
                                  ("code_departement", "code_departement")):
                if param in query:
                    wanted = query[param][0].split(",")
                    if len(wanted) > code_cap:
                        return Reply.json({"message": f"{param}: {code_cap} codes max"}, 400)
                    selected = [r for r in selected if r[column] in set(wanted)]
        page, size = int(query.get("page", ["1"])[0]), int(query["size"][0])
        if page * size > 20000:
            return Reply.json({"message": "page * size > 20000"}, 400)
        chunk = selected[(page - 1) * size:page * size]
        following = None
        if page * size < len(selected):
            params = {k: v[0] for k, v in query.items() if k != "page"}
            following = f"{server.url}{path}?{urlencode({**params, 'page': page + 1})}"
        return Reply.json({"count": len(selected), "data": chunk, "next": following})

    server.routes[path] = route


# -- WFS -----------------------------------------------------------------------------------------
@cache
def commune_points() -> list[tuple[str, float, float]]:
    """(code, lon, lat): a point inside each national commune's embedded contour."""
    from ckanext.dataclic.territories import Referential

    contours = Referential.default().contours()
    points = []
    for code in national_codes():
        shape = contours.get(code)
        if shape is not None:
            point = shape.representative_point()
            points.append((code, round(point.x, 6), round(point.y, 6)))
    return points


def wfs_features() -> list[dict[str, Any]]:
    return [{"type": "Feature", "id": f"site.{code}",
             "geometry": {"type": "Point", "coordinates": [lon, lat]},
             "properties": {"id_site": f"S{code}", "commune": code}}
            for code, lon, lat in commune_points()]


CAPABILITIES = """<?xml version="1.0" encoding="UTF-8"?>
<wfs:WFS_Capabilities version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0"
  xmlns:ows="http://www.opengis.net/ows/1.1"><wfs:FeatureTypeList><wfs:FeatureType>
  <wfs:Name>patrinat_znieff1:znieff1</wfs:Name><wfs:Title>ZNIEFF de type I</wfs:Title>
  <wfs:Abstract>Zones naturelles</wfs:Abstract>
  <wfs:DefaultCRS>urn:ogc:def:crs:EPSG::2154</wfs:DefaultCRS>
</wfs:FeatureType></wfs:FeatureTypeList></wfs:WFS_Capabilities>"""


def wfs_routes(server: Any, features: list[dict[str, Any]], *, honour: bool) -> None:
    """GetFeature with ``bbox`` (EPSG:2154 URN) or ``cql_filter=INTERSECTS(geom, <WKT in
    EPSG:2154>)``, count/startIndex paging."""
    import shapely
    from pyproj import Transformer

    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)

    def keep(feature: dict[str, Any], shape: Any) -> bool:
        x, y = to_l93.transform(*feature["geometry"]["coordinates"])
        return shape.intersects(shapely.Point(x, y))

    def route(query: dict[str, list[str]]) -> Reply:
        if query["request"][0] == "GetCapabilities":
            return Reply(200, CAPABILITIES.encode(), {"Content-Type": "text/xml"})
        selected = features
        if honour and "bbox" in query:
            x0, y0, x1, y1, crs = query["bbox"][0].split(",")
            assert crs.endswith("2154")
            box = shapely.box(float(x0), float(y0), float(x1), float(y1))
            selected = [f for f in features if keep(f, box)]
        elif honour and "cql_filter" in query:
            text = query["cql_filter"][0]
            assert text.startswith("INTERSECTS(geom, ")
            shape = shapely.from_wkt(text[len("INTERSECTS(geom, "):-1])
            selected = [f for f in features if keep(f, shape)]
        start, count = int(query["startIndex"][0]), int(query["count"][0])
        chunk = selected[start:start + count]
        return Reply.json({"type": "FeatureCollection", "numberMatched": len(selected),
                           "numberReturned": len(chunk), "features": chunk})

    server.routes["/wfs/ows"] = route


# -- Géorisques ---------------------------------------------------------------------------------
def installations() -> list[dict[str, Any]]:
    return [{"codeAIOT": f"A{code}", "raisonSociale": f"Usine {code}", "codeInsee": code,
             "regime": "Autorisation"} for code in national_codes()]


def georisques_routes(server: Any, rows: list[dict[str, Any]], *, honour: bool,
                      path: str = "/api/v1/installations_classees") -> None:
    """``departement`` and ``code_insee``; ``page``/``page_size`` with ``next``. Like the
    real API, an unknown parameter (here: every parameter, when ``honour`` is False) is
    ignored and the whole of France comes back."""
    def route(query: dict[str, list[str]]) -> Reply:
        selected = rows
        if honour and "departement" in query:
            selected = [r for r in rows if r["codeInsee"].startswith(query["departement"][0])]
        if honour and "code_insee" in query:
            selected = [r for r in rows if r["codeInsee"] == query["code_insee"][0]]
        page, size = int(query.get("page", ["1"])[0]), int(query["page_size"][0])
        chunk = selected[(page - 1) * size:page * size]
        following = None
        if page * size < len(selected):
            params = {k: v[0] for k, v in query.items() if k != "page"}
            following = f"{server.url}{path}?{urlencode({**params, 'page': page + 1})}"
        return Reply.json({"results": len(selected), "page": page, "data": chunk,
                           "next": following})

    server.routes[path] = route


# -- Opendatasoft --------------------------------------------------------------------------------
ODS_FIELDS = [{"name": "code_commune", "type": "text", "label": "Code commune"},
              {"name": "nom", "type": "text"},
              {"name": "geo_point_2d", "type": "geo_point_2d"}]


def ods_rows() -> list[dict[str, Any]]:
    return [{"code_commune": code, "nom": f"Arbre {code}", "lat": lat, "lon": lon}
            for code, lon, lat in commune_points()]


def ods_routes(server: Any, rows: list[dict[str, Any]], *, honour: bool,
               ident: str = "arbres") -> None:
    import re

    base = f"/api/explore/v2.1/catalog/datasets/{ident}"
    meta = {"dataset_id": ident, "dataset_uid": f"da_{ident}", "fields": ODS_FIELDS,
            "metas": {"default": {"title": "Arbres remarquables", "license": "Licence Ouverte",
                                  "modified": "2026-11-01T00:00:00+00:00",
                                  "publisher": "ONF", "keyword": ["arbres"]}}}

    def selected(query: dict[str, list[str]]) -> list[dict[str, Any]]:
        if not honour or "where" not in query:
            return rows
        where = query["where"][0]
        assert where.startswith("code_commune IN ("), where
        wanted = set(re.findall(r'"([^"]+)"', where))
        return [r for r in rows if r["code_commune"] in wanted]

    def export_csv(query: dict[str, list[str]]) -> Reply:
        lines = ["code_commune;nom;geo_point_2d"] + [
            f'{r["code_commune"]};{r["nom"]};"{r["lat"]}, {r["lon"]}"' for r in selected(query)]
        return Reply(200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "text/csv"})

    def export_geojson(query: dict[str, list[str]]) -> Reply:
        return Reply.json({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
             "properties": {"code_commune": r["code_commune"], "nom": r["nom"]}}
            for r in selected(query)]})

    server.routes[base] = Reply.json(meta)
    server.routes[f"{base}/exports/csv"] = export_csv
    server.routes[f"{base}/exports/geojson"] = export_geojson


# -- udata ------------------------------------------------------------------------------------------
def udata_routes(server: Any, rows: list[dict[str, Any]], ident: str = "artif") -> None:
    lines = ["insee;surface_artif"] + [f"{r['codeInsee']};{i}" for i, r in enumerate(rows)]
    server.routes[f"/api/1/datasets/{ident}/"] = Reply.json({
        "id": ident, "slug": ident, "title": "Artificialisation des sols",
        "description": "Par commune", "license": "lov2", "tags": ["sols"],
        "page": f"{server.url}/datasets/{ident}/",
        "resources": [
            {"id": "r-csv", "title": "artif_commune.csv", "format": "csv",
             "url": f"{server.url}/files/artif_commune.csv"},
            {"id": "r-doc", "title": "notice.pdf", "format": "pdf",
             "url": f"{server.url}/files/notice.pdf"}]})
    server.routes["/files/artif_commune.csv"] = Reply(
        200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "text/csv"})
    server.routes["/files/notice.pdf"] = Reply(200, b"%PDF-1.4", {})
