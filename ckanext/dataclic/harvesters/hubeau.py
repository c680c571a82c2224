"""Hub'Eau APIs (hydrometry, piezometry, river and drinking-water quality, ONDE…).

One dataset per configured endpoint (``v2/hydrometrie/referentiel/stations``…); the import
follows the API's ``next`` links (``count``/``next`` paging) into one CSV file.

Hub'Eau's page-number paging stops at page × size = 20,000 records (a later page is
refused). A query whose ``count`` is over that is read by splitting it by département
(``code_departement``, one query per département) unless its ``next`` link pages with a
cursor, which has no such window; the split is decided on the first page, before any record
is kept, so an answer is never read half-way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import ckan.plugins.toolkit as tk

from ckanext.dataclic.remote import RemoteClient, RemoteError, full_url

from .paged import PagedApiHarvester
from .web import declare_harvest_options

PAGE_WINDOW = 20_000
SPLIT_PARAM = "code_departement"
DEPARTEMENTS = tuple(
    [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B", "971", "972", "973", "974",
                                                     "976"]
)


@tk.blanket.config_declarations(declare_harvest_options)
class HubeauHarvester(PagedApiHarvester):
    name = "dataclic_hubeau"
    title = "Hub'Eau"
    description = (
        "Hub'Eau water APIs: one dataset per endpoint, every page of the national "
        "referential gathered into a CSV file (page and size caps)."
    )
    producer = "Hub'Eau (OFB, BRGM, offices de l'eau)"
    data_key = "data"
    size_param = "size"
    default_page_size = 5000
    default_tags: ClassVar[list[str]] = ["eau", "hub-eau"]

    def record_pages(
        self, client: RemoteClient, url: str, params: dict[str, Any],
        notes: list[str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        pages = client.iter_pages(url, params, self.next_page)
        first = next(pages, None)
        if first is None:
            return
        if not self._over_window(first):
            yield self.page_records(first, url)
            for payload in pages:
                yield self.page_records(payload, url)
            return
        pages.close()
        if params.get(SPLIT_PARAM):
            raise RemoteError(
                full_url(url, params),
                f"{first['count']} records, over the {PAGE_WINDOW} Hub'Eau pages through, "
                f"even for one {SPLIT_PARAM}: narrow 'params' (a date range, a commune…)",
                200,
            )
        national, read = first["count"], 0
        for code in DEPARTEMENTS:
            part = {**params, SPLIT_PARAM: code}
            split_pages = client.iter_pages(url, part, self.next_page)
            head = next(split_pages, None)
            if head is None:
                continue
            if self._over_window(head):
                split_pages.close()
                raise RemoteError(
                    full_url(url, part),
                    f"{head['count']} records for {SPLIT_PARAM}={code}, over the "
                    f"{PAGE_WINDOW} Hub'Eau pages through: narrow 'params' (a date range…)",
                    200,
                )
            read += head["count"] if isinstance(head.get("count"), int) else 0
            yield self.page_records(head, url)
            for payload in split_pages:
                yield self.page_records(payload, url)
        if notes is not None:
            notes.append(
                f"Read département by département ({SPLIT_PARAM}): the API counts {national} "
                f"records, over the {PAGE_WINDOW} its paging reaches in one query."
                + (f" Not included: {national - read} record(s) without a département."
                   if read < national else "")
            )

    @staticmethod
    def _over_window(payload: Any) -> bool:
        """More records than page-number paging reaches, and no cursor to page with."""
        if not isinstance(payload, dict) or not isinstance(payload.get("count"), int):
            return False
        following = payload.get("next")
        if isinstance(following, str) and "cursor=" in following:
            return False
        return payload["count"] > PAGE_WINDOW
