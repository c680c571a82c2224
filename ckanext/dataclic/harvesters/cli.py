"""``ckan dataclic sources``: list the curated green sources and create harvest sources."""

from __future__ import annotations

import json
from typing import Any

import click

FREQUENCIES = ("MANUAL", "MONTHLY", "WEEKLY", "BIWEEKLY", "DAILY", "ALWAYS")


@click.group(short_help="Curated national green sources to harvest.")
def sources() -> None:
    """Curated national green sources (biodiversity, climate, energy, risks, water, land use,
    air) that can be added as harvest sources."""


@sources.command("list")
@click.option("--theme", help="Only the sources of this theme.")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def list_sources(theme: str | None, as_json: bool) -> None:
    """List the curated green sources."""
    from ckan.plugins import toolkit as tk

    from .catalogue import load_catalogue

    entries = [e for e in load_catalogue() if not theme or e.theme == theme]
    if as_json:
        click.echo(json.dumps([e.__dict__ for e in entries], ensure_ascii=False, indent=2))
        return
    from ckanext.dataclic.portal_language import default_locale

    for entry in entries:
        words = entry.localised(default_locale())
        click.echo(f"{entry.name:34} {entry.theme:17} {entry.harvester:20} {words['title']}")
        click.echo(f"{'':34} {tk._('producer')}: {words['producer']}")
        if entry.set_for_your_territory:
            click.echo(f"{'':34} {tk._('set for your territory')}: "
                       f"{entry.set_for_your_territory} (--config)")


@sources.command("add")
@click.argument("name")
@click.option("--org", help="Organisation (name or id) that will own the harvested datasets.")
@click.option("--frequency", type=click.Choice(FREQUENCIES, case_sensitive=False),
              default="MANUAL", show_default=True, help="How often the source is harvested.")
@click.option("--config", "config_json",
              help="JSON merged over the catalogue config, "
              """e.g. '{"params": {"departement": "33"}}'.""")
@click.option("--source-name", help="Name of the harvest source to create (default: NAME).")
def add_source(name: str, org: str | None, frequency: str, config_json: str | None,
               source_name: str | None) -> None:
    """Create the harvest source NAME from the curated catalogue."""
    from ckan.plugins import toolkit as tk

    from .catalogue import CatalogueError, find_source

    try:
        entry = find_source(name)
    except CatalogueError:
        raise click.ClickException(
            tk._("No green source named {name}; see `ckan dataclic sources list`.").format(
                name=name)) from None
    overrides: dict[str, Any] = {}
    if config_json:
        try:
            overrides = json.loads(config_json)
        except json.JSONDecodeError as exc:
            raise click.ClickException(
                tk._("--config is not valid JSON: {error}").format(error=exc.msg)) from None
        if not isinstance(overrides, dict):
            raise click.ClickException(tk._("--config must be a JSON object."))
    from ckanext.dataclic.portal_language import default_locale

    # The source's title and description are read by every visitor: the portal's language.
    words = entry.localised(default_locale())
    site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    context = {"user": site_user["name"], "ignore_auth": True}
    data = {
        "name": source_name or entry.name,
        "title": words["title"],
        "url": entry.url,
        "source_type": entry.harvester,
        "config": json.dumps(entry.config_with(overrides), ensure_ascii=False),
        "frequency": frequency.upper(),
        "notes": words["description"] or f"{words['producer']} ({entry.theme})",
    }
    if org:
        try:
            data["owner_org"] = tk.get_action("organization_show")(context, {"id": org})["id"]
        except tk.ObjectNotFound:
            raise click.ClickException(
                tk._("No organisation named {org}.").format(org=org)) from None
    try:
        created = tk.get_action("harvest_source_create")(context, data)
    except tk.ValidationError as exc:
        details = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                            for k, v in exc.error_dict.items())
        raise click.ClickException(
            tk._("The harvest source was refused: {details}").format(details=details)) from None
    click.echo(tk._("Created harvest source {name} ({type}) for {url}").format(
        name=created["name"], type=entry.harvester, url=entry.url))


@sources.command("add-territory")
@click.option("--perimeter", help="Territory as kind:code (epci:243300316, commune:33063…); "
              "default: the portal's ckanext.dataclic.default_perimeter.")
@click.option("--theme", "themes", multiple=True,
              help="Only the sources of this theme (repeatable); default: every source.")
@click.option("--source", "names", multiple=True,
              help="Only this catalogue source (repeatable).")
@click.option("--org", help="Organisation (name or id) that will own the harvested datasets.")
@click.option("--frequency", type=click.Choice(FREQUENCIES, case_sensitive=False),
              default="MONTHLY", show_default=True, help="How often the sources are harvested.")
@click.option("--dry-run", is_flag=True,
              help="Create nothing: print each source's method and size estimate for the "
              "territory.")
def add_territory(perimeter: str | None, themes: tuple[str, ...], names: tuple[str, ...],
                  org: str | None, frequency: str, dry_run: bool) -> None:
    """Create, for one territory, the harvest sources of the curated catalogue (all of it, or
    the given themes or sources), with the config keys perimeter and theme set. Sources that
    exist already for the territory are left as they are."""
    from ckan.plugins import toolkit as tk

    from .territory_sources import TerritorySourceError, add_territory_sources

    if dry_run:
        _dry_run(perimeter, list(themes), list(names))
        return

    site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    context = {"user": site_user["name"], "ignore_auth": True}
    try:
        territory, outcomes = add_territory_sources(
            context, perimeter=perimeter, names=list(names), themes=list(themes), org=org,
            frequency=frequency)
    except TerritorySourceError as error:
        raise click.ClickException(str(error)) from None
    click.echo(tk._("Territory: {name} ({id})").format(name=territory.name, id=territory.id))
    for outcome in outcomes:
        if outcome.status == "created":
            click.echo(tk._("created  {source} ({title})").format(
                source=outcome.source_name, title=outcome.entry.title))
        elif outcome.status == "exists":
            click.echo(tk._("exists   {source} ({title})").format(
                source=outcome.source_name, title=outcome.entry.title))
        else:
            click.echo(tk._("failed   {name}: {message}").format(
                name=outcome.entry.name, message=outcome.message), err=True)
    created = sum(o.status == "created" for o in outcomes)
    existing = sum(o.status == "exists" for o in outcomes)
    failed = sum(o.status == "failed" for o in outcomes)
    click.echo(tk._("{created} created, {existing} already there, {failed} failed").format(
        created=created, existing=existing, failed=failed))
    if failed:
        raise click.exceptions.Exit(1)


def _dry_run(perimeter: str | None, themes: list[str], names: list[str]) -> None:
    """The sources ``add-territory`` would create, with their method and size estimate."""
    from ckan.plugins import toolkit as tk

    from .territorial import referential
    from .territorial_sources import expected_method
    from .territory_estimates import described
    from .territory_sources import (
        TerritorySourceError,
        method_labels,
        resolve_territory,
        select_entries,
    )

    try:
        territory = resolve_territory(perimeter)
        entries = select_entries(names, themes)
    except TerritorySourceError as error:
        raise click.ClickException(str(error)) from None
    ref = referential()
    found = described(ref.resolve(territory.id), ref, entries)
    click.echo(tk._("Territory: {name} ({id})").format(name=territory.name, id=territory.id))
    labels = method_labels()
    for entry in entries:
        view = found.get(entry.name) or {}
        line = f"{entry.name:34} {labels[expected_method(entry.harvester)]:18} " \
            f"{view.get('label', '')}"
        click.echo(line + ("" if view.get("known") else f"  ({view.get('title', '')})"))
    click.echo(tk._("Dry run: nothing was created."))
