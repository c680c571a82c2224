"""The ``dataclic_pgsearch`` plugin: CKAN's dataset search answered by PostgreSQL.

Enable it before the other plugins (``ckan.plugins = dataclic_pgsearch dataclic …``) on
portals without Solr. Loading the plugin routes CKAN's Solr calls to the index table of
:mod:`ckanext.dataclic.pgsearch.store` for the rest of the process; ``solr_url`` must still
be set (to any value) because CKAN requires it.
"""
from __future__ import annotations

from typing import Any

import ckan.plugins as p
import ckan.plugins.toolkit as tk

from ckanext.dataclic.pgsearch import connection


@tk.blanket.config_declarations
class PgSearchPlugin(p.SingletonPlugin):
    p.implements(p.IConfigurer)

    # IConfigurer: runs inside load_environment(), before CKAN's schema check and before
    # any search, so the check itself is already the stand-in's.
    def update_config(self, config_: Any) -> None:
        connection.install()
