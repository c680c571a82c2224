"""Display names of the curated catalogue's themes, translated for the page's locale.

The theme ids come from the catalogue (``harvesters/catalogue.py``); a harvested dataset
carries one in its ``dataclic_theme`` extra. Datasets without a known theme go under "other".
"""
from __future__ import annotations

import ckan.plugins.toolkit as tk

from ckanext.dataclic.harvesters.catalogue import THEMES

OTHER = "other"


def theme_labels() -> dict[str, str]:
    """Theme id → label, in the catalogue's order, "other" last."""
    return {
        "biodiversity": tk._("Biodiversity"),
        "climate": tk._("Climate"),
        "energy": tk._("Energy"),
        "natural-risks": tk._("Natural risks"),
        "industrial-risks": tk._("Industrial risks"),
        "water": tk._("Water"),
        "land-use": tk._("Land use"),
        "air": tk._("Air quality"),
        OTHER: tk._("Other data"),
    }


def theme_order() -> tuple[str, ...]:
    return (*THEMES, OTHER)


def label(theme: str) -> str:
    return theme_labels().get(theme, theme)
