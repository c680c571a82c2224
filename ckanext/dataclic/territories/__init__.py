"""Territory referential of French communes, EPCI, départements and régions.

Plain Python (no CKAN import): resolve perimeters written ``kind:code`` to the codes that
identify their rows in code-keyed data and to their geometry, map any commune code seen in
data to today's commune, and search territories by name, code, SIREN or postcode.
"""
from __future__ import annotations

from .codes import ACCEPTED_FORMS, KINDS, PerimeterError, normalise_code, parse_perimeter_id
from .referential import Referential
from .search import KIND_LABELS, SearchResult, fold
from .units import AttachedCode, Commune, ContourSource, Epci, Perimeter

__all__ = [
    "ACCEPTED_FORMS",
    "KINDS",
    "KIND_LABELS",
    "AttachedCode",
    "Commune",
    "ContourSource",
    "Epci",
    "Perimeter",
    "PerimeterError",
    "Referential",
    "SearchResult",
    "fold",
    "normalise_code",
    "parse_perimeter_id",
]
