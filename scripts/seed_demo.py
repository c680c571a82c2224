"""Seed the demo portal with a "Démo" organisation and datasets built offline.

Usage: python scripts/seed_demo.py CKAN_INI

Datasets, built from the embedded territory referential (no network needed):
- ``communes-de-france``: a CSV of every commune with its population, keyed by INSEE code;
- ``contours-communes-gironde``: a GeoPackage of the commune contours of Gironde.
Their extraction profiles are detected at once, so extraction works right away.
Then the population of the portal's territory (``ckanext.dataclic.default_perimeter``,
Bordeaux Métropole in the demo) is extracted and published through ``dataclic_publish``, so
the home page's "Data for <territory>" block has a dataset to show.

Idempotent: what exists already is left as it is.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any


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
        ensure_demo_files()
        ensure_territory_extract()


def ensure_organisation(portal) -> None:
    import ckanapi

    try:
        portal.action.organization_show(id="demo")
    except ckanapi.NotFound:
        portal.action.organization_create(
            name="demo",
            title="Démo",
            description="Organisation de démonstration de ckanext-dataclic.",
        )
        print("seed: created organisation demo")


def ensure_datasets(portal) -> None:
    import ckanapi

    name = "communes-de-france"
    try:
        portal.action.package_show(id=name)
        return
    except ckanapi.NotFound:
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


def _site_context() -> dict[str, Any]:
    import ckan.plugins.toolkit as tk

    user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    return {"user": user["name"], "ignore_auth": True}


def _add_file(package: str, path: Path, name: str, fmt: str, description: str) -> None:
    """Upload ``path`` as a resource of ``package`` unless one named ``name`` exists, then
    detect its extraction profile in-process (no worker needed)."""
    import ckan.plugins.toolkit as tk
    from werkzeug.datastructures import FileStorage

    from ckanext.dataclic.extraction import service

    dataset = tk.get_action("package_show")(_site_context(), {"id": package})
    existing = [r for r in dataset.get("resources", []) if r.get("name") == name]
    if existing:
        resource = existing[0]
    else:
        with path.open("rb") as stream:
            resource = tk.get_action("resource_create")(_site_context(), {
                "package_id": dataset["id"], "name": name, "format": fmt,
                "description": description,
                "upload": FileStorage(stream=stream, filename=path.name),
            })
        print(f"seed: added {name} to {package}")
    record = service.detect(service.show_resource(resource["id"]))
    print(f"seed: profile of {name}: {record.get('status')}")


def ensure_demo_files() -> None:
    """Population CSV and Gironde contours, built from the embedded referential."""
    import ckan.plugins.toolkit as tk

    from ckanext.dataclic.model import active_referential

    ref = active_referential.get()
    with tempfile.TemporaryDirectory(prefix="dataclic-seed-") as folder:
        csv_path = Path(folder) / "population-communes.csv"
        with csv_path.open("w", encoding="utf-8") as out:
            out.write("code_insee;nom;population;code_departement\n")
            for code in sorted(ref.communes):
                commune = ref.communes[code]
                out.write(f"{code};{commune.name};{commune.population or ''};"
                          f"{commune.departement_code}\n")
        _add_file("communes-de-france", csv_path, "population-communes.csv", "CSV",
                  f"Population municipale des communes ({ref.vintage}), par code INSEE.")

        name = "contours-communes-gironde"
        try:
            tk.get_action("package_show")(_site_context(), {"id": name})
        except tk.ObjectNotFound:
            tk.get_action("package_create")(_site_context(), {
                "name": name, "title": "Contours des communes de Gironde",
                "owner_org": "demo", "license_id": "odc-odbl",
                "notes": "Jeu de démonstration : contours simplifiés des communes de la "
                         "Gironde, issus du référentiel embarqué.",
                "tags": [{"name": "territoire"}, {"name": "communes"}],
            })
            print(f"seed: created dataset {name}")
        gpkg_path = Path(folder) / "communes-gironde.gpkg"
        _gironde_geopackage(ref, gpkg_path)
        _add_file(name, gpkg_path, "communes-gironde.gpkg", "GPKG",
                  "Contours des communes de la Gironde (WGS84).")


def ensure_territory_extract() -> None:
    """The population CSV cut to the portal's territory, published with its provenance."""
    import ckan.plugins.toolkit as tk
    from ckan import model

    from ckanext.dataclic.extraction import service

    perimeter = (tk.config.get("ckanext.dataclic.default_perimeter") or "").strip()
    if not perimeter:
        return
    territory = tk.get_action("dataclic_territory_show")(_site_context(), {"id": perimeter})
    source = tk.get_action("package_show")(_site_context(), {"id": "communes-de-france"})
    name = service.slug(f"{source['name']} {territory['name']}")
    try:
        tk.get_action("package_show")(_site_context(), {"id": name})
        return
    except tk.ObjectNotFound:
        pass
    (resource,) = [r for r in source["resources"] if r["name"] == "population-communes.csv"]
    context = {**_site_context(), "auth_user_obj": model.User.get(_site_context()["user"])}
    record = tk.get_action("dataclic_extract")(dict(context), {
        "resource_id": resource["id"], "perimeter": territory["id"], "format": "csv"})
    if record["status"] != "done":   # small uploads are cut within the call; else run it here
        service.run(record["id"])
    published = tk.get_action("dataclic_publish")(dict(context), {
        "id": record["id"], "owner_org": "demo"})
    print(f"seed: published {published['package_name']} for {territory['name']}")


def _gironde_geopackage(ref: Any, path: Path) -> None:
    import geopandas

    perimeter = ref.resolve("departement:33")
    rows = []
    for code in perimeter.communes:
        commune = ref.communes[code]
        geometry = ref.resolve(f"commune:{code}").geometry
        if geometry is None or geometry.is_empty:
            continue
        rows.append({"code_insee": code, "nom": commune.name,
                     "population": commune.population, "geometry": geometry})
    frame = geopandas.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    frame.to_file(path, layer="communes", driver="GPKG")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: seed_demo.py CKAN_INI")
    main(sys.argv[1])
