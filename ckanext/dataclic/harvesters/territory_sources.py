"""Harvest sources of the curated catalogue for one territory, created in one decision.

Shared by ``ckan dataclic sources add-territory`` and the sysadmins' page
(``/ckan-admin/dataclic/territory-sources``): both call :func:`catalogue_plan` to show what
would be harvested and :func:`add_territory_sources` to create the sources. Each source gets
the config keys ``perimeter`` (the resolved ``kind:code``) and ``theme`` (the catalogue theme)
that the territorial harvest reads. Idempotent: a source with the same URL, harvester,
perimeter and catalogue config is recognised and left as it is.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import ckan.plugins as p
import ckan.plugins.toolkit as tk

from .catalogue import GreenSource, load_catalogue
from .territorial_sources import expected_method

FREQUENCIES = ("MANUAL", "MONTHLY", "WEEKLY", "BIWEEKLY", "DAILY", "ALWAYS")
DEFAULT_FREQUENCY = "MONTHLY"
TERRITORIAL_KEYS = ("perimeter", "theme")
NAME_MAX = 100


class TerritorySourceError(ValueError):
    """A request that cannot be carried out; the message is translated for the user."""


@dataclass(frozen=True)
class Territory:
    id: str
    name: str


@dataclass
class Outcome:
    """What happened to one catalogue entry: ``created``, ``exists`` or ``failed``."""

    entry: GreenSource
    status: str
    source_name: str = ""
    source_id: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.entry.name, "title": self.entry.title, "status": self.status,
                "source_name": self.source_name, "source_id": self.source_id,
                "message": self.message}


@dataclass
class Plan:
    territory: Territory
    themes: list[dict[str, Any]] = field(default_factory=list)


def method_labels() -> dict[str, str]:
    return {"server-filter": tk._("Server filter"), "local-cut": tk._("Local cut")}


def resolve_territory(perimeter: str | None) -> Territory:
    """The territory ``perimeter`` names; empty or ``portal`` means the portal's
    ``ckanext.dataclic.default_perimeter``."""
    from ckanext.dataclic.model import active_referential
    from ckanext.dataclic.territories import PerimeterError

    wanted = (perimeter or "").strip()
    if not wanted or wanted == "portal":
        wanted = (tk.config.get("ckanext.dataclic.default_perimeter") or "").strip()
        if not wanted:
            raise TerritorySourceError(tk._(
                "No territory given and the portal has none: set "
                "ckanext.dataclic.default_perimeter or give a perimeter such as "
                "epci:243300316."))
    try:
        resolved = active_referential.get().resolve(wanted)
    except (PerimeterError, ValueError, KeyError):
        raise TerritorySourceError(tk._(
            "Unknown territory \u201c{perimeter}\u201d: give kind:code, for example "
            "commune:33063, epci:243300316, departement:33 or region:75.").format(
                perimeter=wanted[:200])) from None
    return Territory(id=resolved.id, name=resolved.name)


def _entry_view(entry: GreenSource, existing: dict[str, Any] | None) -> dict[str, Any]:
    method = expected_method(entry.harvester)
    return {
        "name": entry.name, "title": entry.title, "producer": entry.producer,
        "theme": entry.theme, "harvester": entry.harvester, "url": entry.url,
        "method": method, "method_label": method_labels()[method],
        "enabled": p.plugin_loaded(entry.harvester),
        "existing": existing,
    }


def catalogue_plan(perimeter: str | None) -> Plan:
    """The catalogue grouped by theme, each source with its method for the territory and the
    harvest source already made for it, if any."""
    from ckanext.dataclic.themes import label, theme_order

    territory = resolve_territory(perimeter)
    entries = load_catalogue()
    found = existing_sources(territory)
    order = theme_order()
    themes = sorted({e.theme for e in entries},
                    key=lambda t: (order.index(t) if t in order else len(order), t))
    plan = Plan(territory=territory)
    for theme in themes:
        plan.themes.append({
            "id": theme, "label": label(theme),
            "sources": [_entry_view(e, found.get(e.name)) for e in entries if e.theme == theme],
        })
    return plan


def select_entries(names: list[str] | None, themes: list[str] | None) -> list[GreenSource]:
    """Catalogue entries named in ``names`` or in one of ``themes``; every entry when both
    are empty. Unknown names or themes are an error."""
    entries = load_catalogue()
    names = [n for n in (names or []) if n]
    themes = [t for t in (themes or []) if t]
    unknown = sorted(set(names) - {e.name for e in entries})
    if unknown:
        raise TerritorySourceError(tk._("No green source named {names} in the catalogue.").format(
            names=", ".join(n[:100] for n in unknown[:5])))
    wrong = sorted(set(themes) - {e.theme for e in entries})
    if wrong:
        raise TerritorySourceError(tk._("Unknown theme {themes}; the themes are: {known}.").format(
            themes=", ".join(t[:100] for t in wrong[:5]),
            known=", ".join(sorted({e.theme for e in entries}))))
    if not names and not themes:
        return entries
    return [e for e in entries if e.name in names or e.theme in themes]


def _base_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in TERRITORIAL_KEYS}


def _normalised(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, ensure_ascii=False)


def _config_of(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _perimeter_of(config: dict[str, Any]) -> str:
    value = str(config.get("perimeter") or "").strip()
    if value == "portal":
        value = (tk.config.get("ckanext.dataclic.default_perimeter") or "").strip()
    return value


def existing_sources(territory: Territory) -> dict[str, dict[str, str]]:
    """Catalogue entry name → the active harvest source already made for it and this
    territory (same URL, harvester and perimeter; same catalogue config or the name this
    module gives)."""
    if not p.plugin_loaded("harvest"):
        return {}
    from ckan import model
    from ckanext.harvest.model import HarvestSource

    rows = (model.Session.query(HarvestSource)
            .filter(HarvestSource.active.is_(True)).all())
    found: dict[str, dict[str, str]] = {}
    for entry in load_catalogue():
        wanted_name = source_name(entry, territory)
        wanted_config = _normalised(_base_config(entry.config))
        for row in rows:
            if row.url != entry.url or row.type != entry.harvester:
                continue
            config = _config_of(row.config)
            if _perimeter_of(config) != territory.id:
                continue
            package = model.Package.get(row.id)
            name = package.name if package is not None else ""
            if package is not None and package.state != "active":
                continue
            if name == wanted_name or _normalised(_base_config(config)) == wanted_config:
                found[entry.name] = {"id": row.id, "name": name, "title": row.title or name,
                                     "frequency": row.frequency or ""}
                break
    return found


def source_name(entry: GreenSource, territory: Territory) -> str:
    """``<catalogue name>-<kind>-<code>``, a valid CKAN name (long lists of communes are
    shortened with a hash)."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", territory.id.lower()).strip("-")
    name = f"{entry.name}-{slug}"
    if len(name) > NAME_MAX:
        digest = hashlib.sha1(territory.id.encode()).hexdigest()[:10]
        name = f"{name[:NAME_MAX - 11]}-{digest}"
    return name


def _error_text(error: tk.ValidationError) -> str:
    details = getattr(error, "error_dict", None) or {}
    parts = []
    for key, value in details.items():
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key}: {text}")
    return "; ".join(parts)[:500] or str(error)[:500]


def _organisation_id(context: dict[str, Any], org: str | None) -> str | None:
    if not org:
        return None
    try:
        return tk.get_action("organization_show")(dict(context), {"id": org})["id"]
    except (tk.ObjectNotFound, tk.ValidationError):
        raise TerritorySourceError(tk._("No organisation named {org}.").format(
            org=org[:100])) from None


def add_territory_sources(context: dict[str, Any], *, perimeter: str | None,
                          names: list[str] | None = None, themes: list[str] | None = None,
                          org: str | None = None,
                          frequency: str = DEFAULT_FREQUENCY) -> tuple[Territory, list[Outcome]]:
    """Create the harvest sources of the chosen catalogue entries for a territory.

    ``context`` is the acting user's (``harvest_source_create`` checks it). Sources that
    exist already are reported as ``exists`` and not touched.
    """
    if not p.plugin_loaded("harvest"):
        raise TerritorySourceError(tk._(
            "The harvest plugin is not enabled: add harvest and the dataclic harvesters to "
            "ckan.plugins."))
    frequency = (frequency or DEFAULT_FREQUENCY).upper()
    if frequency not in FREQUENCIES:
        raise TerritorySourceError(tk._("Unknown frequency {frequency}; choose one of "
                                        "{choices}.").format(frequency=frequency[:50],
                                                             choices=", ".join(FREQUENCIES)))
    territory = resolve_territory(perimeter)
    entries = select_entries(names, themes)
    owner_org = _organisation_id(context, org)
    found = existing_sources(territory)
    outcomes = []
    for entry in entries:
        if entry.name in found:
            outcomes.append(Outcome(entry, "exists", found[entry.name]["name"],
                                    found[entry.name]["id"]))
            continue
        if not p.plugin_loaded(entry.harvester):
            outcomes.append(Outcome(entry, "failed", message=tk._(
                "The harvester {harvester} is not enabled.").format(harvester=entry.harvester)))
            continue
        outcomes.append(_create(context, entry, territory, owner_org, frequency))
    return territory, outcomes


def _create(context: dict[str, Any], entry: GreenSource, territory: Territory,
            owner_org: str | None, frequency: str) -> Outcome:
    config = entry.config_with({"perimeter": territory.id, "theme": entry.theme})
    data = {
        "name": source_name(entry, territory),
        "title": f"{entry.title} \u2014 {territory.name}",
        "url": entry.url,
        "source_type": entry.harvester,
        "config": json.dumps(config, ensure_ascii=False),
        "frequency": frequency,
        "notes": f"{entry.producer} ({entry.theme}) \u2014 {territory.name} ({territory.id})",
    }
    if owner_org:
        data["owner_org"] = owner_org
    try:
        created = tk.get_action("harvest_source_create")(dict(context), data)
    except tk.ValidationError as error:
        return Outcome(entry, "failed", message=_error_text(error))
    return Outcome(entry, "created", created["name"], created["id"])
