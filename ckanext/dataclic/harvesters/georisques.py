"""Géorisques API v1 (GASPAR risks and CatNat decrees, ICPE installations…), paged.

One dataset per configured endpoint (``v1/gaspar/catnat``, ``v1/installations_classees``…),
with the query parameters the API needs (a département, a commune code…); the import follows
``next`` links, or ``page``/``total_pages`` when no link is given, into one CSV file.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import ckan.plugins.toolkit as tk

from .paged import PagedApiHarvester
from .web import declare_harvest_options


@tk.blanket.config_declarations(declare_harvest_options)
class GeorisquesHarvester(PagedApiHarvester):
    name = "dataclic_georisques"
    title = "Géorisques"
    description = (
        "Géorisques API (GASPAR risks, CatNat decrees, ICPE installations…): one dataset per "
        "endpoint, every page gathered into a CSV file."
    )
    producer = "Géorisques (MTECT, BRGM)"
    data_key = "data"
    size_param = "page_size"
    default_page_size = 500
    default_tags: ClassVar[list[str]] = ["risques", "georisques"]

    def next_page(self, payload: Any, url: str) -> str | dict[str, Any] | None:
        if not isinstance(payload, dict):
            return None
        if isinstance(payload.get("next"), str) and payload["next"]:
            return payload["next"]
        page, total = payload.get("page"), payload.get("total_pages")
        if isinstance(page, int) and isinstance(total, int) and page < total:
            query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            return {**query, "page": page + 1}
        return None
