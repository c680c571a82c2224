"""The curated catalogue of national green sources shipped with the extension."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

THEMES = ("biodiversity", "climate", "energy", "natural-risks", "industrial-risks", "water",
          "land-use", "air")


class CatalogueError(ValueError):
    """A catalogue name that does not exist, or a config override that cannot be merged."""


@dataclass(frozen=True)
class GreenSource:
    """One curated source: what an admin would otherwise type into the harvest source form."""

    name: str
    title: str
    theme: str
    producer: str
    harvester: str
    url: str
    config: dict[str, Any] = field(default_factory=dict)
    set_for_your_territory: str | None = None
    # French wording of the title, producer and description (the plain keys are English).
    title_fr: str = ""
    producer_fr: str = ""
    description: str = ""
    description_fr: str = ""

    def localised(self, language: str) -> dict[str, str]:
        """Title, producer and description in ``language`` ("fr", "fr_FR", "en"…); English
        for any language the catalogue has no wording in."""
        french = (language or "").lower().replace("-", "_").split("_")[0] == "fr"
        if french:
            return {"title": self.title_fr or self.title,
                    "producer": self.producer_fr or self.producer,
                    "description": self.description_fr or self.description}
        return {"title": self.title, "producer": self.producer, "description": self.description}

    def config_with(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """The catalogue config with ``overrides`` on top (``params`` merged key by key)."""
        merged = json.loads(json.dumps(self.config))
        for key, value in (overrides or {}).items():
            if key == "params" and isinstance(value, dict):
                merged["params"] = {**merged.get("params", {}), **value}
            else:
                merged[key] = value
        return merged


def load_catalogue() -> list[GreenSource]:
    text = resources.files("ckanext.dataclic.harvesters").joinpath("catalogue.json").read_text(
        encoding="utf-8"
    )
    return [GreenSource(**entry) for entry in json.loads(text)["sources"]]


def find_source(name: str) -> GreenSource:
    for entry in load_catalogue():
        if entry.name == name:
            return entry
    raise CatalogueError(f"No green source named {name!r} in the catalogue")
