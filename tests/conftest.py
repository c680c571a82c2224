pytest_plugins = ["ckanext.dataclic.pgsearch.pytest_plugin"]
