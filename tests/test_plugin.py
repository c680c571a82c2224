import ckan.plugins as p
import pytest
from ckan.plugins import toolkit as tk


@pytest.mark.ckan_config("ckan.plugins", "dataclic")
@pytest.mark.usefixtures("with_plugins")
def test_dataclic_plugin_loads():
    assert p.plugin_loaded("dataclic")


@pytest.mark.ckan_config("ckan.plugins", "dataclic")
@pytest.mark.usefixtures("with_plugins")
def test_options_are_declared():
    # Declared options come back with their declared default, not a KeyError.
    assert tk.config.get("ckanext.dataclic.default_perimeter") == ""
