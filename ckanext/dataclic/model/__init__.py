"""Own database tables of ckanext-dataclic (created by ``ckan db upgrade -p dataclic``)."""
from __future__ import annotations

from .territory import (
    VintageInfo,
    active_referential,
    active_vintage,
    list_vintages,
    referential_from_db,
    store_referential,
)

__all__ = [
    "VintageInfo",
    "active_referential",
    "active_vintage",
    "list_vintages",
    "referential_from_db",
    "store_referential",
]
