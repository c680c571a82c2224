"""Seed the demo portal with a "Démo" organisation and datasets built offline.

Usage: python scripts/seed_demo.py CKAN_INI

Idempotent: what exists already is left as it is.
"""
from __future__ import annotations

import sys


def main(ini: str) -> None:
    from ckan.cli import load_config
    from ckan.config.middleware import make_app

    app = make_app(load_config(ini))
    flask_app = app._wsgi_app if hasattr(app, "_wsgi_app") else app
    with flask_app.test_request_context():
        import ckanapi

        portal = ckanapi.LocalCKAN()
        ensure_organisation(portal)
        ensure_datasets(portal)


def ensure_organisation(portal) -> None:
    try:
        portal.action.organization_show(id="demo")
    except Exception:  # ckanapi raises NotFound
        portal.action.organization_create(
            name="demo",
            title="Démo",
            description="Organisation de démonstration de ckanext-dataclic.",
        )
        print("seed: created organisation demo")


def ensure_datasets(portal) -> None:
    name = "communes-de-france"
    try:
        portal.action.package_show(id=name)
        return
    except Exception:
        pass
    portal.action.package_create(
        name=name,
        title="Communes de France",
        owner_org="demo",
        license_id="odc-odbl",
        notes="Jeu de démonstration : les communes françaises (Code officiel géographique).",
        tags=[{"name": "territoire"}, {"name": "communes"}],
    )
    print(f"seed: created dataset {name}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: seed_demo.py CKAN_INI")
    main(sys.argv[1])
