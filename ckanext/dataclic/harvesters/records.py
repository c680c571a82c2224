"""What harvester modules produce: the remote records a listing yields and the draft of the
CKAN dataset each one becomes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RemoteRecord:
    """One object of the source: its stable id, and its metadata if the listing carried it."""

    guid: str
    content: dict[str, Any] | None = None
    url: str | None = None


@dataclass
class DatasetDraft:
    """A CKAN dataset built from a remote record, before identity and naming are applied."""

    name_hint: str
    title: str
    notes: str = ""
    remote_url: str = ""
    license_id: str | None = None
    # The remote licence's title and URL, kept when the portal's register lacks the id.
    license_title: str = ""
    license_url: str = ""
    tags: list[str] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)
    identity: str | None = None
    # How many records or features the answer held (None: not a gathered file).
    records_count: int | None = None
    # Set by the base: the identity key the package id comes from (see :mod:`.identity`).
    key: str = ""



def iso_timestamp(value: Any) -> str | None:
    """A remote timestamp as the naive-UTC ISO string CKAN's validators accept."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return stamp.isoformat()


