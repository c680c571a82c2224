"""A harvested dataset's identity: its stable package id, its free name, and which other
source already owns it.

The identity of a remote object is what identifies it at the producer, never the spelling of
the source URL: the harvester, the service host (lower case, without ``www.`` nor a default
port), the remote id (layer name, endpoint path, dataset id) and the query parameters that
select the data (sorted, trimmed; paging and format parameters left out). Its UUID5 is the
package id. Datasets harvested before this scheme (their id came from the full source URL)
are found through the harvest object the source already has for the same guid.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ckan import model
from ckan.lib.munge import munge_name
from ckanext.harvest.model import HarvestObject, HarvestObjectExtra

IDENTITY_NAMESPACE = uuid.UUID("0b7c1f3e-5d7a-4c59-9a41-6f1f3d6c2a10")
NAME_MAX = 100
# Query parameters that page or shape an answer: they do not select which data it holds.
NOT_SELECTING = frozenset({"page", "size", "page_size", "per_page", "count", "startindex",
                           "limit", "offset", "cursor", "fields", "format", "outputformat",
                           "sort", "srsname", "service", "version", "request",
                           "acceptversions"})


def normalised_host(url: str) -> str:
    """``https://WWW.Data.gouv.fr:443/x`` → ``data.gouv.fr``; a non-default port is kept."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().rstrip(".")
    host = host.removeprefix("www.")
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port and port not in (80, 443) else host


def selecting_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    """The parameters that select data, as trimmed strings, sorted by name."""
    kept = {str(k).strip(): str(v).strip() for k, v in (params or {}).items()
            if str(k).strip().lower() not in NOT_SELECTING and str(v).strip()}
    return dict(sorted(kept.items()))


def identity_key(
    harvester: str, source_url: str, remote_id: str, params: Mapping[str, Any] | None = None
) -> str:
    """``dataclic_hubeau|hubeau.eaufrance.fr|/api/v1/x?code_departement=33``.

    The query parameters of the source URL itself count too (``?map=…`` on a MapServer WFS),
    in any order; ``params`` of the config win over them."""
    remote = re.sub(r"/{2,}", "/", str(remote_id).strip()).rstrip("/") or str(remote_id)
    key = f"{harvester}|{normalised_host(source_url)}|{remote}"
    chosen = selecting_params({**dict(parse_qsl(urlsplit(source_url).query)), **(params or {})})
    return f"{key}?{urlencode(chosen)}" if chosen else key


def package_id_for(key: str) -> str:
    """The stable package id of an identity key."""
    return str(uuid.uuid5(IDENTITY_NAMESPACE, f"identity|{key}"))


def legacy_package_id(harvester: str, source_url: str, identity: str) -> str:
    """The package id harvests gave before identity keys (the URL's host and port as spelt,
    and the harvester's identity, which held the full source URL for WFS and paged APIs)."""
    return str(uuid.uuid5(
        IDENTITY_NAMESPACE, f"{harvester}|{urlsplit(source_url).netloc}|{identity}"
    ))


def owned_package(
    computed: str, key: str, previous_package_id: str | None, previous_key: str | None
) -> str:
    """The package this source already made for the same guid when it is the same remote
    object (same identity key, or harvested before keys were recorded) and still exists;
    otherwise the computed id. A source URL respelt keeps its datasets this way."""
    if not previous_package_id or previous_package_id == computed:
        return computed
    if previous_key is not None and previous_key != key:
        return computed  # the source now selects other data: another dataset
    if model.Package.get(previous_package_id) is None:
        return computed
    return previous_package_id


def other_source_owning(package_id: str, source_id: str, key: str | None = None) -> str | None:
    """The name of another active source whose current object made this package, or made
    the same remote object (same identity key) under another id."""
    query = (
        model.Session.query(HarvestObject.harvest_source_id)
        .filter(HarvestObject.current.is_(True))
        .filter(HarvestObject.harvest_source_id != source_id)
    )
    owners = [row[0] for row in query.filter(HarvestObject.package_id == package_id)]
    if key:
        owners += [row[0] for row in query.join(
            HarvestObjectExtra, HarvestObjectExtra.harvest_object_id == HarvestObject.id
        ).filter(HarvestObjectExtra.key == "identity", HarvestObjectExtra.value == key)]
    for owner in dict.fromkeys(owners):
        source_package = model.Package.get(owner)
        if source_package is not None and source_package.state == "active":
            return source_package.name
    return None


def free_name(hint: str, package_id: str) -> str:
    """The slug of the remote dataset; when taken, the slug plus part of its stable id."""
    ideal = munge_name(hint or package_id)[:NAME_MAX].strip("-_") or package_id
    if len(ideal) < 2:
        ideal = f"dataset-{ideal}"
    taken = model.Package.get(ideal)
    if taken is None or taken.id == package_id:
        return ideal
    return f"{ideal[:NAME_MAX - 9]}-{package_id[:8]}"
