"""How big a territory's slice of one catalogue source is, asked cheaply of the source's API.

No CKAN import here (the glue, with its thread pool, cache and number formatting, is
:mod:`.territory_estimates`). Each API is asked for a count with the same territorial filter
the harvest sends (:mod:`.server_filters` builds it), never for the data:

- data-fair: ``/lines?size=0`` with ``<code column>_in=`` (or ``bbox``) → ``total``;
- Opendatasoft v2.1: ``/records?limit=0&where=…`` → ``total_count``;
- Hub'Eau: ``size=1`` with the commune/département parameters → ``count``;
- Géorisques: ``page_size=1`` with its département or ``code_insee`` parameter → ``results``
  (an answer whose one row is from another commune means the filter was ignored: unknown);
- WFS: ``GetFeature`` with ``resultType=hits`` and the ``bbox``/``cql_filter`` →
  ``numberMatched``;
- udata: the files are downloaded whole, so the estimate is the resources' file sizes
  (bytes, not rows).

Anything that goes wrong (no answer in time, an error, an answer without a count) gives an
unknown estimate with the reason; nothing is raised to the caller.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from ckanext.dataclic.remote import RemoteClient, RemoteError, full_url

from .metered import chunks
from .server_filters import (
    DEFAULT_CODES_PER_REQUEST,
    GEORISQUES_CODE_FIELDS,
    GEORISQUES_DEPARTEMENT_PARAM,
    WFS_POST_OVER,
    commune_codes,
    hubeau_plan,
    ods_wheres,
    wfs_filter,
)
from .territory_columns import datafair_columns, ods_columns

# Remote datasets (layers, endpoints) counted per source, and requests per source.
MAX_ITEMS = 20
MAX_REQUESTS = 60
ROWS, FEATURES, BYTES = "rows", "features", "bytes"
# Why an estimate is unknown (the glue translates these).
TIMEOUT, ERROR, NO_COUNT, TOO_MANY, IGNORED = (
    "timeout", "error", "no-count", "too-many-requests", "filter-ignored")


@dataclass
class Estimate:
    """``value`` in ``unit`` (rows, features or bytes), or None with ``reason`` (one of the
    codes above) and ``detail`` (the technical words, for a tooltip). ``partial``: some
    items had no count, so ``value`` is a lower bound."""

    value: int | None = None
    unit: str = ""
    reason: str = ""
    detail: str = ""
    partial: bool = False

    @property
    def known(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimate:
        return cls(**{k: data[k] for k in ("value", "unit", "reason", "detail", "partial")
                      if k in data})


class Unknown(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason, self.detail = reason, detail


class Budget:
    """Requests one source may make, and when it must stop."""

    def __init__(self, deadline: float, max_requests: int = MAX_REQUESTS) -> None:
        self.deadline, self.left = deadline, max_requests

    def need(self, requests: int) -> None:
        """Refuse at once a count that would take more requests than are left."""
        if requests > self.left:
            raise Unknown(TOO_MANY, f"counting would take {requests} requests, more than "
                          f"the {MAX_REQUESTS} allowed")

    def spend(self, requests: int = 1) -> None:
        if time.monotonic() > self.deadline:
            raise Unknown(TIMEOUT, "the time allowed for the estimates ran out")
        if requests > self.left:
            raise Unknown(TOO_MANY, f"counting would take more than {MAX_REQUESTS} requests")
        self.left -= requests


def estimate_source(harvester: Any, source_url: str, config: dict[str, Any], perimeter: Any,
                    ref: Any, client: RemoteClient, *, deadline: float) -> Estimate:
    """The size of ``perimeter``'s slice of one harvest source (catalogue entry)."""
    counter = COUNTERS.get(getattr(harvester, "name", ""))
    if counter is None:
        return Estimate(reason=NO_COUNT, detail="no count for this kind of source")
    budget = Budget(deadline)
    try:
        limit = min(int(config.get("max_datasets") or MAX_ITEMS), MAX_ITEMS)
        budget.spend()
        records = list(islice(harvester.list_records(source_url, config, client), limit))
        total, unit, partial = 0, "", False
        for record in records:
            content = record.content
            if content is None:
                budget.spend()
                content = harvester.fetch_record(record, config, client)
            value, unit, incomplete = counter(content, config, source_url, client, perimeter,
                                              ref, budget)
            total += value
            partial = partial or incomplete
        if not records:
            return Estimate(0, ROWS)
        return Estimate(total, unit, partial=partial)
    except Unknown as unknown:
        return Estimate(reason=unknown.reason, detail=unknown.detail)
    except RemoteError as error:
        timed_out = "timed out" in error.reason or "took over" in error.reason
        return Estimate(reason=TIMEOUT if timed_out else ERROR, detail=str(error)[:300])
    except Exception as error:  # noqa: BLE001 - a malformed answer is an unknown size
        return Estimate(reason=ERROR, detail=f"{type(error).__name__}: {error}"[:300])


def _number(payload: Any, key: str, url: str) -> int:
    value = payload.get(key) if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Unknown(NO_COUNT, f"{url}: the answer has no '{key}' count")
    return value


def _count(client: RemoteClient, budget: Budget, url: str, params: dict[str, Any],
           key: str) -> tuple[int, Any]:
    budget.spend()
    payload = client.get_json(url, params)
    return _number(payload, key, full_url(url, params)), payload


# -- data-fair -----------------------------------------------------------------------------------
def _datafair(content: dict[str, Any], config: dict[str, Any], source_url: str,
              client: RemoteClient, perimeter: Any, ref: Any, budget: Budget
              ) -> tuple[int, str, bool]:
    from .datafair import api_base

    ident = str(content["id"])
    lines = f"{api_base(source_url)}/datasets/{quote(ident, safe='')}/lines"
    _schema, code_column, geo = datafair_columns(content, config)
    if code_column:
        queries = [{f"{code_column}_in": ",".join(part)} for part in
                   chunks(commune_codes(perimeter), DEFAULT_CODES_PER_REQUEST)]
    elif geo:
        west, south, east, north = perimeter.bounds
        queries = [{"bbox": f"{west:.6f},{south:.6f},{east:.6f},{north:.6f}"}]
    else:
        queries = [{}]
    return sum(_count(client, budget, lines, {**q, "size": 0}, "total")[0]
               for q in queries), ROWS, False


# -- Opendatasoft ----------------------------------------------------------------------------------
def _ods(content: dict[str, Any], config: dict[str, Any], source_url: str,
         client: RemoteClient, perimeter: Any, ref: Any, budget: Budget
         ) -> tuple[int, str, bool]:
    from .ods import api_base

    ident = str(content["dataset_id"])
    records = f"{api_base(source_url)}/catalog/datasets/{quote(ident, safe='')}/records"
    code_field, geo_field = ods_columns(content, config)
    wheres = ods_wheres(perimeter, code_field, geo_field) or [None]
    total = 0
    for where in wheres:
        params: dict[str, Any] = {"limit": 0}
        if where:
            params["where"] = where
        total += _count(client, budget, records, params, "total_count")[0]
    return total, ROWS, False


# -- Hub'Eau -------------------------------------------------------------------------------------
def _departements(perimeter: Any, ref: Any) -> list[str]:
    from .territorial_sources import _departements as departements

    return departements(perimeter, ref)


def _hubeau(content: dict[str, Any], config: dict[str, Any], source_url: str,
            client: RemoteClient, perimeter: Any, ref: Any, budget: Budget
            ) -> tuple[int, str, bool]:
    endpoint, url = str(content["endpoint"]), str(content["url"])
    queries, _cap, _method, _column = hubeau_plan(endpoint, perimeter,
                                                  _departements(perimeter, ref))
    budget.need(len(queries))
    base = dict(config.get("params") or {})
    return sum(_count(client, budget, url, {**base, **q, "size": 1}, "count")[0]
               for q in queries), ROWS, False


# -- Géorisques ------------------------------------------------------------------------------------
def _georisques(content: dict[str, Any], config: dict[str, Any], source_url: str,
                client: RemoteClient, perimeter: Any, ref: Any, budget: Budget
                ) -> tuple[int, str, bool]:
    endpoint, url = str(content["endpoint"]), str(content["url"])
    path = endpoint.strip("/")
    dep_param = next((p for frag, p in GEORISQUES_DEPARTEMENT_PARAM.items() if frag in path),
                     None)
    if perimeter.kind in ("departement", "region") and dep_param:
        queries = [{dep_param: dep} for dep in _departements(perimeter, ref)]
    else:
        queries = [{"code_insee": code} for code in perimeter.communes]
    budget.need(len(queries))
    base = dict(config.get("params") or {})
    total = 0
    for query in queries:
        count, payload = _count(client, budget, url, {**base, **query, "page_size": 1},
                                "results")
        if "code_insee" in query and count:
            _check_commune(payload, ref.codes_of_commune(query["code_insee"]), url)
        total += count
    return total, ROWS, False


def _check_commune(payload: dict[str, Any], asked: set[str], url: str) -> None:
    """Géorisques ignores a parameter it does not know: a row of another commune in a
    per-commune answer means the count is France's, not the commune's."""
    rows = payload.get("data") if isinstance(payload, dict) else None
    for row in rows if isinstance(rows, list) else []:
        field = next((f for f in GEORISQUES_CODE_FIELDS if isinstance(row, dict) and f in row),
                     None)
        if field and str(row[field] or "").strip() not in asked:
            raise Unknown(IGNORED, f"{url}: asked for commune {min(asked)}, "
                          f"answered a row of commune {row[field]}")


# -- WFS ----------------------------------------------------------------------------------------
def _wfs(content: dict[str, Any], config: dict[str, Any], source_url: str,
         client: RemoteClient, perimeter: Any, ref: Any, budget: Budget
         ) -> tuple[int, str, bool]:
    from .wfs import _epsg

    layer = str(content["name"])
    layer_crs = _epsg(content.get("default_crs") or "") or "EPSG:4326"
    territorial = wfs_filter(perimeter, layer_crs, config.get("server_filter", "bbox"),
                             config.get("geometry_name", "geom"))
    params = {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
              "typeNames": layer, "resultType": "hits"}
    budget.spend()
    if len(territorial.get("cql_filter", "")) > WFS_POST_OVER:
        body = client.post_form(source_url, params, territorial, max_bytes=1024 * 1024)
    else:
        body = client.get_bytes(source_url, {**params, **territorial})
    return _number_matched(body, full_url(source_url, params)), FEATURES, False


def _number_matched(body: bytes, url: str) -> int:
    """``numberMatched`` of a hits answer: an XML ``FeatureCollection`` attribute, or a JSON
    key (``totalFeatures`` for GeoServer's JSON)."""
    text = body.lstrip()
    if text.startswith(b"{"):
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        key = "numberMatched" if isinstance(payload, dict) and "numberMatched" in payload \
            else "totalFeatures"
        return _number(payload, key, url)
    try:
        root = ElementTree.fromstring(text[:1024 * 1024])
    except ElementTree.ParseError:
        raise Unknown(NO_COUNT, f"{url}: the answer is neither XML nor JSON") from None
    value = root.get("numberMatched", "")
    if not value.isdigit():
        raise Unknown(NO_COUNT, f"{url}: numberMatched is {value or 'missing'!r}")
    return int(value)


# -- udata ---------------------------------------------------------------------------------------
def _udata(content: dict[str, Any], config: dict[str, Any], source_url: str,
           client: RemoteClient, perimeter: Any, ref: Any, budget: Budget
           ) -> tuple[int, str, bool]:
    """Bytes downloaded: the CSV and spatial resources the harvest cuts locally."""
    from .territorial_sources import UDATA_SPATIAL

    total, missing, files = 0, False, 0
    for resource in content.get("resources") or []:
        if not isinstance(resource, dict) or not resource.get("url"):
            continue
        fmt = str(resource.get("format") or "").lower()
        if fmt != "csv" and fmt not in UDATA_SPATIAL:
            continue
        files += 1
        size = resource.get("filesize")
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            total += size
        else:
            missing = True
    if files and missing and not total:
        raise Unknown(NO_COUNT, "the catalogue gives no file size for these resources")
    return total, BYTES, missing


Counter = Callable[[dict[str, Any], dict[str, Any], str, RemoteClient, Any, Any, Budget],
                   tuple[int, str, bool]]
COUNTERS: dict[str, Counter] = {
    "dataclic_datafair": _datafair, "dataclic_ods": _ods, "dataclic_hubeau": _hubeau,
    "dataclic_georisques": _georisques, "dataclic_wfs": _wfs, "dataclic_udata": _udata,
}
