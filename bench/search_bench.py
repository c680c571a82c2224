"""Benchmark of the PostgreSQL search stand-in (plugin ``dataclic_pgsearch``).

Indexes N (default 10,000) realistic French datasets, then times CKAN's ``package_search``
action (anonymous user, so with the permission-label filter) for two-word text queries with
five facets (organization, groups, tags, res_format, license_id), and prints the medians.

Documents are built in exactly the shape CKAN's ``PackageSearchIndex.index_package`` sends
to Solr (flattened resources, tags, groups, capacity, permission labels, ``data_dict`` and
``validated_data_dict``…) and inserted through the stand-in connection's ``add`` in batches
of 500: going through ``package_create`` for 10,000 datasets would take a quarter of an hour
and measure CKAN's validation, not the search.

Usage:
    CKAN_SQLALCHEMY_URL=postgresql://postgres@127.0.0.1:5432/ckan_test_pgsearch \\
    .venv/bin/python bench/search_bench.py [--datasets 10000] [--runs 60] [--ini test.ini]

The index table of that database is cleared before and after the run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

THEMES = [
    "biodiversité", "zones humides", "qualité de l'eau", "risque inondation", "qualité de l'air",
    "énergie renouvelable", "déchets ménagers", "agriculture biologique", "forêts publiques",
    "trait de côte", "urbanisme", "mobilité douce", "bruit routier", "changement climatique",
    "sols pollués", "paysages", "faune sauvage", "flore protégée", "espaces naturels sensibles",
    "eaux souterraines", "cours d'eau", "haies bocagères", "sites Natura 2000", "friches",
]
KINDS = [
    "Inventaire", "Carte", "Plan de prévention", "Zonage", "Suivi", "Observatoire",
    "Stations de mesure", "Réseau", "Schéma directeur", "Atlas", "Référentiel", "Diagnostic",
]
PLACES = [
    "Gironde", "Bordeaux Métropole", "Landes", "Dordogne", "Lot-et-Garonne",
    "Pyrénées-Atlantiques", "Charente-Maritime", "Deux-Sèvres", "Vienne", "Haute-Vienne",
    "Corrèze", "Creuse", "Charente", "Bassin d'Arcachon", "Pays Basque", "Médoc",
]
TAGS = [
    "biodiversité", "eau", "inondation", "risques", "air", "énergie", "déchets", "agriculture",
    "forêt", "littoral", "urbanisme", "transport", "bruit", "climat", "sols", "paysage",
    "faune", "flore", "natura-2000", "zones-humides", "observatoire", "open-data",
    "environnement", "santé", "cartographie", "statistiques",
]
ORGS = [
    f"{prefix} {place}"
    for prefix in ("DREAL", "DDTM", "Conseil départemental")
    for place in PLACES[:12]
] + ["OFB", "ADEME", "BRGM", "IGN", "Agence de l'eau Adour-Garonne", "Météo-France"]
GROUPS = ["Eau", "Nature", "Risques", "Énergie", "Air", "Aménagement", "Agriculture",
          "Mobilité", "Climat", "Santé environnement", "Déchets", "Littoral"]
FORMATS = ["CSV", "GeoJSON", "SHP", "GPKG", "PDF", "XLSX", "JSON", "WMS", "ZIP"]
LICENSES = ["odc-odbl", "cc-by", "cc-by-sa", "other-open", "cc-zero"]
SENTENCES = [
    "Ce jeu de données recense {theme} sur le territoire de {place}.",
    "Les données sont mises à jour chaque année par {org}.",
    "La couche géographique est fournie en Lambert 93 et en WGS84.",
    "Elle permet d'analyser l'évolution de {theme} depuis {year}.",
    "Les relevés de terrain ont été validés par les services de l'État.",
    "Consultez la documentation jointe pour la méthodologie et les limites d'usage.",
    "This dataset is also described in English for European reporting.",
]
QUERIES = [
    "zones humides", "qualité eau", "risque inondation", "biodiversité gironde",
    "énergie landes", "forêts dordogne", "bruit routier", "faune sauvage",
    "inventaire flore", "sols pollués", "trait côte", "observatoire climat",
]
FACETS = ["organization", "groups", "tags", "res_format", "license_id"]


def slug(text: str) -> str:
    from ckanext.dataclic.pgsearch.text import fold

    out = "".join(c if c.isalnum() else "-" for c in fold(text).lower())
    return "-".join(part for part in out.split("-") if part)


def build_document(rng: random.Random, number: int, site_id: str,
                   org_ids: dict[str, str]) -> dict[str, Any]:
    """One document shaped like CKAN's index_package output."""
    theme, kind, place = rng.choice(THEMES), rng.choice(KINDS), rng.choice(PLACES)
    year = rng.randint(2005, 2025)
    org = rng.choice(ORGS)
    title = f"{kind} {theme} {place} {year}"
    name = f"{slug(title)}-{number}"
    notes = " ".join(
        s.format(theme=theme, place=place, org=org, year=year)
        for s in rng.sample(SENTENCES, rng.randint(3, 6))
    )
    tags = sorted(set(rng.sample(TAGS, rng.randint(2, 5))))
    groups = [slug(g) for g in rng.sample(GROUPS, rng.randint(0, 2))]
    private = rng.random() < 0.1
    created = datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=number * 97)
    modified = created + timedelta(days=rng.randint(0, 400))
    package_id = str(uuid.UUID(int=rng.getrandbits(128)))
    resources = [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "name": f"{theme} {place} ({fmt})",
            "description": f"Export {fmt} du jeu {title}.",
            "format": fmt,
            "url": f"http://127.0.0.1/{name}/{i}.{fmt.lower()}",
            "resource_type": None,
        }
        for i, fmt in enumerate(rng.sample(FORMATS, rng.randint(1, 4)))
    ]
    license_id = rng.choice(LICENSES)
    org_name = slug(org)
    package_dict = {
        "id": package_id, "name": name, "title": title, "notes": notes, "type": "dataset",
        "state": "active", "private": private, "license_id": license_id,
        "owner_org": org_ids[org_name], "organization": {"name": org_name, "title": org},
        "tags": [{"name": t} for t in tags], "groups": [{"name": g} for g in groups],
        "resources": resources, "num_resources": len(resources), "num_tags": len(tags),
        "metadata_created": created.isoformat(), "metadata_modified": modified.isoformat(),
        "extras": [{"key": "frequency", "value": rng.choice(["annuelle", "mensuelle"])}],
    }
    doc: dict[str, Any] = {
        "id": package_id, "name": name, "title": title, "title_string": title, "notes": notes,
        "type": "dataset", "dataset_type": "dataset", "entity_type": "package",
        "state": "active", "private": private, "capacity": "private" if private else "public",
        "license_id": license_id, "license": license_id, "owner_org": org_ids[org_name],
        "organization": org_name, "tags": tags, "groups": groups,
        "num_resources": len(resources), "num_tags": len(tags),
        "res_name": [r["name"] for r in resources],
        "res_description": [r["description"] for r in resources],
        "res_format": [r["format"] for r in resources],
        "res_url": [r["url"] for r in resources],
        "metadata_created": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "metadata_modified": modified.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "extras_frequency": package_dict["extras"][0]["value"],
        "frequency": package_dict["extras"][0]["value"],
        "site_id": site_id,
        "index_id": hashlib.md5(f"{package_id}{site_id}".encode()).hexdigest(),
        "permission_labels": [f"member-{org_ids[org_name]}"] if private else ["public"],
        "data_dict": json.dumps(package_dict),
        "validated_data_dict": json.dumps(package_dict),
    }
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--ini", default=str(REPO / "test.ini"))
    parser.add_argument("--keep", action="store_true", help="leave the documents indexed")
    args = parser.parse_args()

    from ckan.cli import load_config
    from ckan.config.middleware import make_app

    config = load_config(args.ini)
    config["ckan.plugins"] = "dataclic_pgsearch"
    app = make_app(config)

    import sqlalchemy as sa
    from ckan import model
    from ckan.lib import search
    from ckan.logic import get_action

    from ckanext.dataclic.pgsearch import connection
    from ckanext.dataclic.pgsearch.store import TABLE

    if not model.repo.are_tables_created():
        model.repo.init_db()
    assert connection.is_installed(), "the dataclic_pgsearch plugin did not install itself"
    site_id = config.get("ckan.site_id")
    rng = random.Random(20241129)
    org_ids = {slug(org): str(uuid.UUID(int=rng.getrandbits(128))) for org in ORGS}

    search.clear_all()
    conn = connection.make_connection()
    started = time.perf_counter()
    for first in range(0, args.datasets, args.batch):
        last = min(first + args.batch, args.datasets)
        conn.add([build_document(rng, n, site_id, org_ids) for n in range(first, last)])
    index_seconds = time.perf_counter() - started
    with conn.table.engine.connect() as db:
        db.execute(sa.text(f"ANALYZE {TABLE}"))

    def timed(params: dict[str, Any]) -> tuple[float, int]:
        begin = time.perf_counter()
        result = get_action("package_search")({"user": ""}, dict(params))
        return (time.perf_counter() - begin) * 1000, result["count"]

    with app._wsgi_app.test_request_context():
        # Warm-up: first calls load licences, templates of facets, connection pools.
        for q in QUERIES:
            timed({"q": q, "facet.field": FACETS})
        text_ms, counts = [], []
        for run in range(args.runs):
            ms, count = timed({"q": QUERIES[run % len(QUERIES)], "facet.field": FACETS,
                               "rows": 20})
            text_ms.append(ms)
            counts.append(count)
        all_ms = [timed({"q": "*:*", "facet.field": FACETS, "rows": 20})[0]
                  for _ in range(max(10, args.runs // 3))]
        filtered_ms = [
            timed({"q": QUERIES[run % len(QUERIES)], "facet.field": FACETS, "rows": 20,
                   "fq": 'res_format:"CSV" AND tags:eau', "sort": "metadata_modified desc"})[0]
            for run in range(max(10, args.runs // 3))
        ]

    def describe(values: list[float]) -> str:
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        return f"median {statistics.median(values):.1f} ms, p90 {p90:.1f} ms, n={len(values)}"

    print(f"indexed {args.datasets} datasets via connection.add in batches of {args.batch}: "
          f"{index_seconds:.1f} s ({args.datasets / index_seconds:.0f} docs/s)")
    print(f"two-word text query + 5 facets (anonymous): {describe(text_ms)}; "
          f"hits per query median {statistics.median(counts):.0f}")
    print(f"*:* + 5 facets (anonymous): {describe(all_ms)}")
    print(f"text + fq + sort by metadata_modified + 5 facets: {describe(filtered_ms)}")
    print(f"MEDIAN package_search (two-word query, 5 facets): {statistics.median(text_ms):.1f} ms "
          f"(target < 50 ms)")
    if not args.keep:
        search.clear_all()


if __name__ == "__main__":
    main()
