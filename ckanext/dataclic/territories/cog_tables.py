"""Reading the compact COG tables of ``cog.json.gz`` (see scripts/build_referential.py) into
the fields of a :class:`~.referential.Referential`."""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from .units import AttachedCode, Commune, ContourSource, Epci


def referential_fields(
    tables: dict[str, Any],
    *,
    contour_loader: Callable[[], dict[str, Any]] | None,
    contour_subset_loader: Callable[[Collection[str]], dict[str, Any]] | None,
    embedded_contours: bool,
) -> dict[str, Any]:
    """The keyword arguments of a Referential built from ``tables``."""
    epcis: dict[str, Epci] = {}
    epci_of: dict[str, Epci] = {}
    for siren, name, kind, population, members in tables["epci"]:
        epci = Epci(siren, name, kind, int(population or 0), tuple(sorted(members)))
        epcis[siren] = epci
        for member in members:
            epci_of[member] = epci
    communes: dict[str, Commune] = {}
    arrondissements: dict[str, Commune] = {}
    attached: dict[str, AttachedCode] = {}
    formers: list[tuple[str, str]] = []
    for row in tables["communes"]:
        code, kind, name, dep, reg, parent, population, postcodes, former, siren = row
        if kind == "COM":
            epci = epci_of.get(code)
            communes[code] = Commune(
                code=code,
                name=name,
                epci_siren=epci.siren if epci else None,
                epci_name=epci.name if epci else None,
                departement_code=dep,
                region_code=reg,
                population=int(population or 0),
                postcodes=tuple(postcodes),
                siren=siren or "",
            )
            formers.extend((old, code) for old in former)
        elif kind == "ARM":
            arrondissements[code] = Commune(
                code=code,
                name=name,
                epci_siren=None,
                epci_name=None,
                departement_code=dep,
                region_code=reg,
                population=int(population or 0),
                postcodes=tuple(postcodes),
                kind="arrondissement",
                parent_code=parent,
            )
        elif code != parent:  # a déléguée keeping its chef-lieu's code adds nothing
            attached[code] = AttachedCode(
                code, name, "deleguee" if kind == "COMD" else "associee", parent
            )
    for old, owner in formers:
        if old not in communes and old not in arrondissements and old not in attached:
            attached[old] = AttachedCode(old, old, "former", owner)
    # Arrondissements inherit the EPCI of their commune.
    for code, arrondissement in list(arrondissements.items()):
        parent = communes.get(arrondissement.parent_code or "")
        if parent is not None:
            arrondissements[code] = replace(
                arrondissement, epci_siren=parent.epci_siren, epci_name=parent.epci_name
            )
    return {
        "vintage": tables["vintage"],
        "communes": communes,
        "arrondissements": arrondissements,
        "attached": attached,
        "epcis": epcis,
        "departements": {code: (name, reg) for code, name, reg in tables["departements"]},
        "regions": {code: name for code, name in tables["regions"]},
        "contour_loader": contour_loader,
        "contour_subset_loader": contour_subset_loader,
        "contours_from_parts": tuple(tables.get("contours_from_parts", ())),
        "contour_sources": [
            ContourSource(
                tables.get("sources", {}).get("contours", "embedded"),
                tables.get("contours_vintage", "embedded"),
                0,
            )
        ]
        if embedded_contours
        else [],
    }
