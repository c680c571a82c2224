"""The ``ckan dataclic …`` command group."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import ckan.plugins.toolkit as tk
import click


@click.group(short_help="ckanext-dataclic administration commands")
def dataclic() -> None:
    """Administration commands of ckanext-dataclic."""


@dataclic.group()
def territories() -> None:
    """Territory referential: load it into the database, show its status."""


def _read_tables(source: str, vintage: str | None) -> tuple[dict[str, Any], str]:
    from ckanext.dataclic.territories import embedded
    from ckanext.dataclic.territories.sources import ContourSourceError, compact_cog_tables

    if source == "embedded":
        tables = embedded.read_cog()
        if vintage:
            tables["vintage"] = vintage
        return tables, tables.get("sources", {}).get("cog", "embedded")
    folder = Path(source)
    if not folder.is_dir():
        raise click.ClickException(
            tk._("COG source {source} is neither 'embedded' nor a folder").format(source=source)
        )
    if not vintage:
        raise click.ClickException(tk._("--vintage is required with a COG folder"))
    import json

    raw = {}
    for name in ("communes", "epci", "departements", "regions"):
        try:
            raw[name] = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise click.ClickException(
                tk._("Cannot read {file}: {error}").format(file=folder / f"{name}.json",
                                                           error=error)
            ) from error
    try:
        return compact_cog_tables(raw, vintage=vintage), str(folder)
    except (KeyError, TypeError) as error:
        raise ContourSourceError(
            tk._("{folder} does not hold decoupage-administratif COG tables ({error})").format(
                folder=folder, error=error
            )
        ) from error


@territories.command("load")
@click.option("--source", default="embedded", show_default=True,
              help="COG tables: 'embedded', or a folder of @etalab/decoupage-administratif "
                   "JSON files (communes.json, epci.json, departements.json, regions.json).")
@click.option("--vintage", help="Name of the vintage (required with a folder), e.g. 'COG 2026'.")
@click.option("--contours", "contour_source",
              help="Finer commune contours: a file path or http(s) URL (GeoJSON, GeoPackage, "
                   "Shapefile…, maybe gzipped). Default: the embedded coarse contours.")
@click.option("--contours-vintage", help="Vintage label of --contours, e.g. 'ADMIN EXPRESS 2026'.")
@click.option("--code-column", help="Column of --contours holding the INSEE code.")
def load(source: str, vintage: str | None, contour_source: str | None,
         contours_vintage: str | None, code_column: str | None) -> None:
    """Load (or reload) a vintage of the referential and make it the active one.

    The vintage is replaced in one transaction: readers keep the previous referential until
    the load commits. Running it twice gives the same result.
    """
    from ckanext.dataclic.model import active_referential, store_referential
    from ckanext.dataclic.territories import Referential, embedded
    from ckanext.dataclic.territories.sources import ContourSourceError, read_contour_file

    try:
        tables, cog_source = _read_tables(source, vintage)
        referential = Referential.from_cog_tables(tables)
        known = set(referential.communes) | set(referential.arrondissements)
        codes, geometries = embedded.read_contours()
        contours = {c: g for c, g in zip(codes, geometries) if c in known}
        shipped = tables if source == "embedded" else embedded.read_cog()
        label = shipped.get("sources", {}).get("contours", "embedded")
        contour_vintage = shipped.get("contours_vintage", "embedded")
        if contour_source:
            finer, origin = read_contour_file(contour_source, referential,
                                              vintage=contours_vintage, code_column=code_column)
            contours.update(finer)
            label = f"{label} + {origin.name}"
            contour_vintage = f"{contour_vintage} + {origin.vintage}"
    except ContourSourceError as error:
        raise click.ClickException(
            tk._("Loading failed, the referential in use is unchanged: {error}").format(
                error=error)
        ) from error
    counts = store_referential(tables, contours, cog_source=cog_source,
                               contour_source=label, contour_vintage=contour_vintage)
    active_referential.clear()
    click.echo(tk._("Loaded {vintage} (now active):").format(vintage=tables["vintage"]))
    for name, count in counts.items():
        click.echo(f"  {name}: {count}")
    _refresh_publications()


def _refresh_publications() -> None:
    """A new vintage may move perimeters (EPCI membership changes on 1 January): refresh the
    published extracts cut with another vintage, in the background."""
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    from ckanext.dataclic.extraction import publication, service

    try:
        if not service.settings().auto_refresh:
            return
        stale = publication.stale_publications()
        for item in stale:
            publication.enqueue_refresh(item["resource_id"])
    except (SQLAlchemyError, RedisError, service.SourceError) as error:
        click.echo(tk._("Published extracts not refreshed: {error}").format(error=error),
                   err=True)
        return
    if stale:
        click.echo(tk._("{count} published extract(s) queued for refresh").format(
            count=len(stale)))


@territories.command("status")
def status() -> None:
    """Show the active referential, the stored vintages and communes without geometry."""
    from ckanext.dataclic.model import active_referential, active_vintage, list_vintages

    info = active_vintage()
    referential = active_referential.get()
    if info is None:
        click.echo(tk._("Active referential: embedded {vintage} (nothing loaded in the "
                        "database)").format(vintage=referential.vintage))
    else:
        click.echo(tk._("Active referential: {vintage}, loaded {when} UTC").format(
            vintage=info.name, when=info.loaded_at.isoformat(timespec="seconds")))
        click.echo(tk._("  COG source: {source}").format(source=info.cog_source))
        click.echo(tk._("  contours: {source} ({vintage})").format(
            source=info.contour_source, vintage=info.contour_vintage))
    state = referential.status()
    for key in ("communes", "arrondissements", "attached_codes", "epci", "departements",
                "regions"):
        click.echo(f"  {key}: {state[key]}")
    missing = state["communes_without_geometry"]
    click.echo(tk._("  communes without geometry: {count}").format(count=len(missing)))
    if missing:
        shown = ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "")
        click.echo(f"    {shown}")
    stored = list_vintages() if info is not None else []
    if stored:
        click.echo(tk._("Stored vintages:"))
        for item in stored:
            flag = "*" if item.active else " "
            click.echo(f"  {flag} {item.name} ({item.counts.get('communes', 0)} communes, "
                       f"loaded {item.loaded_at.isoformat(timespec='seconds')})")


@dataclic.command("scheming-schema")
@click.argument("base")
@click.option("--dataset-type", default=None,
              help="Dataset type of the merged schema (default: the base schema's).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the schema to this file instead of printing it.")
def scheming_schema(base: str, dataset_type: str | None, output: str | None) -> None:
    """Print BASE (a ckanext-scheming dataset schema: a file or module:path) with the
    dataclic fields it lacks added, for `scheming.dataset_schemas`."""
    import os
    import tempfile

    import yaml

    from ckanext.dataclic.scheming_schema import SchemaError, merged_schema, read_schema

    try:
        schema = merged_schema(read_schema(base), dataset_type=dataset_type)
    except SchemaError:
        raise click.ClickException(
            tk._("Cannot read the scheming schema {schema}").format(schema=base)) from None
    text = yaml.safe_dump(schema, allow_unicode=True, sort_keys=False)
    if not output:
        click.echo(text, nl=False)
        return
    target = Path(output)
    if not target.parent.is_dir():
        raise click.ClickException(
            tk._("Folder {folder} does not exist").format(folder=target.parent))
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, target)
    click.echo(tk._("Schema written to {file}").format(file=target))


def get_commands() -> list[click.Command]:
    # The extraction and harvest commands live beside the code they drive; the whole
    # `ckan dataclic` tree is assembled here, once.
    from ckanext.dataclic.extraction import commands as extraction_commands
    from ckanext.dataclic.harvesters.cli import sources

    for command in (*extraction_commands.COMMANDS, sources):
        if command.name not in dataclic.commands:
            dataclic.add_command(command)
    return [dataclic]
