"""CKAN plugin glue for ckanext-dataclic.

Thin on purpose: every feature lives in its own module (``logic/``, ``cli.py``,
``views.py``…) and this class only registers what those modules export.
"""
from __future__ import annotations

import ckan.plugins as p
import ckan.plugins.toolkit as tk
from ckan.lib.plugins import DefaultTranslation

from ckanext.dataclic import cli, helpers, views
from ckanext.dataclic.extraction import hooks
from ckanext.dataclic.logic import action, auth, extraction_action, extraction_auth


@tk.blanket.config_declarations
class DataclicPlugin(p.SingletonPlugin, DefaultTranslation):
    p.implements(p.IConfigurer)
    p.implements(p.IActions)
    p.implements(p.IAuthFunctions)
    p.implements(p.IClick)
    p.implements(p.ITranslation)
    p.implements(p.IBlueprint)
    p.implements(p.ITemplateHelpers)
    p.implements(p.IResourceController, inherit=True)
    p.implements(p.IPackageController, inherit=True)

    # IConfigurer
    def update_config(self, config_):
        tk.add_template_directory(config_, "templates")
        tk.add_public_directory(config_, "public")
        tk.add_resource("assets", "dataclic")

    # IActions
    def get_actions(self):
        return {**action.get_actions(), **extraction_action.get_actions()}

    # IAuthFunctions
    def get_auth_functions(self):
        return {**auth.get_auth_functions(), **extraction_auth.get_auth_functions()}

    # IClick
    def get_commands(self):
        return cli.get_commands()

    # ITemplateHelpers: the extraction widget's helpers
    def get_helpers(self):
        return helpers.get_helpers()

    # IBlueprint
    def get_blueprint(self):
        return views.get_blueprints()

    # IResourceController: detect the profile of new and changed resources.
    def after_resource_create(self, context, resource):
        hooks.resource_changed(resource)

    def after_resource_update(self, context, resource):
        hooks.resource_changed(resource)

    # IPackageController: a dataset updated in one go (a harvest import) may change
    # resources without the resource hooks; checked by a job after the commit.
    def after_dataset_update(self, context, pkg_dict):
        hooks.dataset_changed(pkg_dict.get("id"))

    # ITranslation: DefaultTranslation finds ``i18n/`` beside this module.
    def i18n_domain(self):
        return "ckanext-dataclic"
