"""CKAN plugin glue for ckanext-dataclic.

Thin on purpose: every feature lives in its own module (``logic/``, ``cli.py``,
``views.py``…) and this class only registers what those modules export.
"""
from __future__ import annotations

import ckan.plugins as p
import ckan.plugins.toolkit as tk
from ckan.lib.plugins import DefaultTranslation

from ckanext.dataclic import cli
from ckanext.dataclic.logic import action, auth


@tk.blanket.config_declarations
class DataclicPlugin(p.SingletonPlugin, DefaultTranslation):
    p.implements(p.IConfigurer)
    p.implements(p.IActions)
    p.implements(p.IAuthFunctions)
    p.implements(p.IClick)
    p.implements(p.ITranslation)

    # IConfigurer
    def update_config(self, config_):
        tk.add_template_directory(config_, "templates")
        tk.add_public_directory(config_, "public")
        tk.add_resource("assets", "dataclic")

    # IActions
    def get_actions(self):
        return action.get_actions()

    # IAuthFunctions
    def get_auth_functions(self):
        return auth.get_auth_functions()

    # IClick
    def get_commands(self):
        return cli.get_commands()

    # ITranslation: DefaultTranslation finds ``i18n/`` beside this module.
    def i18n_domain(self):
        return "ckanext-dataclic"
