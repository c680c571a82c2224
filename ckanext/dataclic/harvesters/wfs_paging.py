"""WFS 2.0 GetFeature paging into one GeoJSON file: the one implementation both the WFS
harvester (the whole layer) and the territorial harvest (the territory's filter) use.

Plain Python (no CKAN import). The caller says how one page is asked (``fetch``: GET, or a
POST when a long ``cql_filter`` does not fit in a URL, counted or not); paging, the loop
check and the writing are here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckanext.dataclic.remote import RemoteError, full_url

# GetFeature parameters without paging and filter: ``fetch`` gets these plus count/startIndex.
Fetch = Callable[[dict[str, Any]], Any]


def getfeature_params(layer: str, srs_name: str) -> dict[str, Any]:
    return {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
            "typeNames": layer, "outputFormat": "application/json", "srsName": srs_name}


def _page_key(features: list[Any]) -> str:
    """What identifies a page's content, cheaply: its size and its first and last features
    (a server that ignores ``startIndex`` sends the same page again)."""
    ends = [features[0], features[-1]] if features else []
    text = json.dumps([len(features), ends], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def feature_pages(fetch: Fetch, url: str, layer: str, *, srs_name: str, page_size: int,
                  max_pages: int) -> Iterator[list[dict[str, Any]]]:
    """The layer's features, one ``count``/``startIndex`` page at a time, until a short page
    or ``numberMatched``. A page already read (the server ignores ``startIndex``) and more
    than ``max_pages`` pages are errors that say what to do."""
    start = 0
    seen: dict[str, int] = {}
    for _page in range(max_pages):
        params = {**getfeature_params(layer, srs_name), "count": page_size, "startIndex": start}
        payload = fetch(params)
        features = payload.get("features") if isinstance(payload, dict) else None
        if not isinstance(features, list):
            raise RemoteError(full_url(url, params),
                              "the answer is not a GeoJSON FeatureCollection", 200)
        key = _page_key(features)
        if features and key in seen:
            raise RemoteError(
                full_url(url, params),
                f"paging loops: the features at startIndex={start} are those already read "
                f"at startIndex={seen[key]} (the server ignores startIndex); lower "
                "page_size under the server's limit or ask its producer",
                200,
            )
        seen[key] = start
        yield features
        matched = payload.get("numberMatched")
        start += len(features)
        if len(features) < page_size or (isinstance(matched, int) and start >= matched):
            return
    raise RemoteError(url, f"more than {max_pages} pages; raise max_pages to read more")


@dataclass
class Written:
    count: int = 0
    properties: list[str] = field(default_factory=list)  # the union of the property names


def write_feature_collection(path: Path, pages: Iterator[list[dict[str, Any]]], *, url: str,
                             head: dict[str, Any], cap: int) -> Written:
    """Every feature of ``pages`` into one GeoJSON FeatureCollection at ``path`` (``head``:
    its other members: name, crs), over ``cap`` bytes an error. The file is removed on
    any failure."""
    count, written, properties = 0, 0, {}
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n')
            for features in pages:
                texts = []
                for feature in features:
                    if not isinstance(feature, dict):
                        raise RemoteError(url, "a feature is not a JSON object", 200)
                    for key in feature.get("properties") or {}:
                        properties.setdefault(key, None)
                    text = json.dumps(feature, ensure_ascii=False, separators=(",", ":"))
                    written += len(text) + 2
                    if written > cap:
                        raise RemoteError(url, f"the layer is over the {cap} byte cap")
                    texts.append(text)
                if texts:
                    out.write((",\n" if count else "") + ",\n".join(texts))
                    count += len(texts)
            out.write("\n]}\n")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Written(count, list(properties))
