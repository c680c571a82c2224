"""The ``ckan dataclic …`` command group."""
from __future__ import annotations

import click


@click.group(short_help="ckanext-dataclic administration commands")
def dataclic() -> None:
    """Administration commands of ckanext-dataclic."""


def get_commands() -> list[click.Command]:
    return [dataclic]
