import pytest

pytest_plugins = ["ckanext.dataclic.pgsearch.pytest_plugin"]


@pytest.fixture()
def territory_tables(non_clean_db, migrate_db_for):
    """dataclic's tables, with no stored referential vintage before and after the test."""
    from ckan import model

    from ckanext.dataclic.model import active_referential

    def forget_loaded_vintages() -> None:
        model.Session.remove()
        with model.meta.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM dataclic_territory_vintage")  # cascades
        active_referential.clear()

    migrate_db_for("dataclic")
    forget_loaded_vintages()
    yield
    forget_loaded_vintages()
