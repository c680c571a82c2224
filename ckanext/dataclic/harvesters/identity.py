"""A harvested dataset's identity: its stable package id, its free name, and which other
source already owns it."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from ckan import model
from ckan.lib.munge import munge_name
from ckanext.harvest.model import HarvestObject

IDENTITY_NAMESPACE = uuid.UUID("0b7c1f3e-5d7a-4c59-9a41-6f1f3d6c2a10")
NAME_MAX = 100


def package_id_for(harvester: str, source_url: str, identity: str) -> str:
    """The stable package id of a remote object."""
    return str(uuid.uuid5(
        IDENTITY_NAMESPACE, f"{harvester}|{urlsplit(source_url).netloc}|{identity}"
    ))


def other_source_owning(package_id: str, source_id: str) -> str | None:
    other = (
        model.Session.query(HarvestObject)
        .filter(HarvestObject.package_id == package_id)
        .filter(HarvestObject.current.is_(True))
        .filter(HarvestObject.harvest_source_id != source_id)
        .first()
    )
    if other is None:
        return None
    source_package = model.Package.get(other.harvest_source_id)
    if source_package is None or source_package.state != "active":
        return None
    return source_package.name


def free_name(hint: str, package_id: str) -> str:
    """The slug of the remote dataset; when taken, the slug plus part of its stable id."""
    ideal = munge_name(hint or package_id)[:NAME_MAX].strip("-_") or package_id
    if len(ideal) < 2:
        ideal = f"dataset-{ideal}"
    taken = model.Package.get(ideal)
    if taken is None or taken.id == package_id:
        return ideal
    return f"{ideal[:NAME_MAX - 9]}-{package_id[:8]}"
