"""The harvesters' glue with CKAN's web side: the source URL check on save, the curated
sources offered on the new-source form, and the config declaration."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ckan.plugins as p
import ckan.plugins.toolkit as tk

from .config import SourceConfigError, check_source_url


def _refuse_bad_source_url(data_dict: dict[str, Any]) -> None:
    if data_dict.get("type") != "harvest":
        return
    if not str(data_dict.get("source_type") or "").startswith("dataclic_"):
        return
    try:
        check_source_url(str(data_dict.get("url") or ""))
    except SourceConfigError:
        raise tk.ValidationError({"url": [tk._(
            "The source URL must be an http:// or https:// URL"
        )]}) from None


@tk.chained_action
def _source_url_checked_create(original: Callable[..., Any], context: Any, data_dict: Any) -> Any:
    _refuse_bad_source_url(data_dict)
    return original(context, data_dict)


@tk.chained_action
def _source_url_checked_update(original: Callable[..., Any], context: Any, data_dict: Any) -> Any:
    _refuse_bad_source_url(data_dict)
    return original(context, data_dict)


def green_sources_for_form() -> list[dict[str, Any]]:
    """Curated sources whose harvester is enabled, each with a link to a pre-filled form;
    titles, producers, descriptions and themes in the page's language."""
    from ckanext.dataclic.themes import label as theme_label

    from .catalogue import load_catalogue

    try:
        language = str(tk.h.lang() or "")
    except (RuntimeError, AttributeError, TypeError):  # outside a request
        language = str(tk.config.get("ckan.locale_default") or "en")
    entries = []
    for entry in load_catalogue():
        if not p.plugin_loaded(entry.harvester):
            continue
        words = entry.localised(language)
        theme = theme_label(entry.theme)
        link = tk.h.url_for(
            "harvest.new", url=entry.url, source_type=entry.harvester, title=words["title"],
            name=entry.name, notes=words["description"] or f"{words['producer']} ({theme})",
            config=json.dumps(entry.config, ensure_ascii=False),
        )
        entries.append({**entry.__dict__, **words, "theme": theme, "theme_id": entry.theme,
                        "new_url": link})
    return entries


def declare_harvest_options(declaration: Any, key: Any) -> None:
    """Load ``config_declaration.yaml`` once, whichever harvester plugins are enabled."""
    if declaration.get("ckanext.dataclic.harvest.allowed_hosts") is not None:
        return
    import yaml

    path = Path(__file__).with_name("config_declaration.yaml")
    with path.open("rb") as stream:
        declaration.load_dict(yaml.safe_load(stream))
