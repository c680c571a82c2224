"""Pytest plugin keeping the search stand-in installed for a whole test session.

CKAN's pytest plugin unloads every CKAN plugin before the test loop, and tests may reload a
different plugin list through ``with_plugins``; the patch of ``make_connection`` must survive
all of that, so it is installed here once, when pytest configures itself. Enable it with
``pytest_plugins = ["ckanext.dataclic.pgsearch.pytest_plugin"]`` in the root ``conftest.py``
or ``-p ckanext.dataclic.pgsearch.pytest_plugin`` on the command line.
"""
from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    from ckanext.dataclic.pgsearch import connection

    connection.install()
