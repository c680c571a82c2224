"""Seeded generators for the extraction benchmark workloads (W1, W2, W3).

Files go to bench/data/ (git-ignored). Sizes scale with ``--scale`` (1.0 = full size).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SHARED_COG = HERE.parent / ".." / "shared" / "data" / "cog" / "communes.json"
METRO_BBOX = (-4.8, 42.4, 8.2, 51.0)
W1_ROWS = 6_000_000
W2_ROWS = 3_000_000
W3_ROWS = 300_000


def commune_weights() -> tuple[list[str], np.ndarray]:
    """Current communes and their population (shared COG file, else the embedded one)."""
    if SHARED_COG.is_file():
        rows = json.loads(SHARED_COG.read_text(encoding="utf-8"))
        pairs = [(r["code"], r.get("population") or 1) for r in rows
                 if r.get("type") == "commune-actuelle"]
    else:
        from ckanext.dataclic.territories import Referential

        ref = Referential.default()
        pairs = [(c.code, c.population or 1) for c in ref.communes()]
    codes = [c for c, _ in pairs]
    pop = np.array([p for _, p in pairs], dtype=np.float64)
    return codes, pop / pop.sum()


def w1_path(scale: float) -> Path:
    return DATA / f"w1_dpe_{scale:g}.csv"


def generate_w1(scale: float, seed: int = 1) -> Path:
    """A DPE-like, ';'-separated CSV: 25 columns, about 200 bytes a row."""
    import polars as pl

    path = w1_path(scale)
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    codes, weights = commune_weights()
    codes_arr = np.array(codes)
    total = int(W1_ROWS * scale)
    batch = 500_000
    tmp = path.with_suffix(".tmp")
    streets = np.array(["rue de la Paix", "avenue Jean Jaurès", "chemin des Vignes",
                        "boulevard Victor Hugo", "place de l'Église", "allée des Pins",
                        'impasse du "Moulin"', "route de Bordeaux; lieu-dit", "cours Pasteur"])
    labels = np.array(list("ABCDEFG"))
    energies = np.array(["Électricité", "Gaz naturel", "Fioul domestique", "Bois – Bûches",
                         "Réseau de chauffage urbain", "GPL"])
    kinds = np.array(["maison", "appartement", "immeuble"])
    with tmp.open("wb") as fh:
        done = 0
        first = True
        while done < total:
            n = min(batch, total - done)
            idx = rng.choice(len(codes), size=n, p=weights)
            code = codes_arr[idx]
            df = pl.DataFrame({
                "numero_dpe": [f"2{done + i:012d}" for i in range(n)],
                "date_etablissement_dpe": np.datetime64("2021-07-01")
                + rng.integers(0, 1500, n).astype("timedelta64[D]"),
                "date_visite_diagnostiqueur": np.datetime64("2021-06-01")
                + rng.integers(0, 1500, n).astype("timedelta64[D]"),
                "modele_dpe": rng.choice(["3CL 2021", "3CL 2012"], n),
                "etiquette_dpe": labels[rng.integers(0, 7, n)],
                "etiquette_ges": labels[rng.integers(0, 7, n)],
                "conso_5_usages_ep": np.round(rng.gamma(4, 50, n), 1),
                "emission_ges_5_usages": np.round(rng.gamma(2, 10, n), 1),
                "surface_habitable_logement": np.round(rng.uniform(12, 250, n), 1),
                "annee_construction": rng.integers(1850, 2024, n),
                "type_batiment": kinds[rng.integers(0, 3, n)],
                "nombre_niveau_logement": rng.integers(1, 4, n),
                "type_energie_principale_chauffage": energies[rng.integers(0, 6, n)],
                "code_postal_ban": np.char.add(np.char.replace(np.char.replace(
                    code, "2A", "20"), "2B", "20").astype("U4"), "0"),
                "code_insee_ban": code,
                "nom_commune_ban": np.char.add("Commune ", code),
                "adresse_ban": np.char.add(rng.integers(1, 200, n).astype(str),
                                           np.char.add(" ", streets[rng.integers(0, 9, n)])),
                "identifiant_ban": np.char.add(code, "_0001"),
                "coordonnee_cartographique_x_ban": np.round(rng.uniform(1e5, 1.2e6, n), 2),
                "coordonnee_cartographique_y_ban": np.round(rng.uniform(6.1e6, 7.1e6, n), 2),
                "cout_total_5_usages": np.round(rng.gamma(3, 500, n), 2),
                "qualite_isolation_enveloppe": rng.choice(["insuffisante", "moyenne", "bonne",
                                                           "très bonne"], n),
                "hauteur_sous_plafond": np.round(rng.uniform(2.2, 3.2, n), 2),
                "deperditions_murs": np.round(rng.gamma(2, 20, n), 1),
                "version_dpe": rng.choice(["2.4", "2.3"], n),
            })
            df.write_csv(fh, separator=";", include_header=first)
            first = False
            done += n
    tmp.rename(path)
    return path


def w2_paths(scale: float) -> dict[str, Path]:
    stem = f"w2_points_{scale:g}"
    return {"csv": DATA / f"{stem}.csv", "gpkg": DATA / f"{stem}.gpkg",
            "fgb": DATA / f"{stem}.fgb"}


def generate_w2(scale: float, seed: int = 2) -> dict[str, Path]:
    """Points over metropolitan France (half near population, half uniform)."""
    import polars as pl
    import pyarrow as pa
    import shapely
    from pyogrio.raw import write_arrow

    paths = w2_paths(scale)
    if all(p.exists() for p in paths.values()):
        return paths
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = int(W2_ROWS * scale)
    minx, miny, maxx, maxy = METRO_BBOX
    x = rng.uniform(minx, maxx, n)
    y = rng.uniform(miny, maxy, n)
    # Denser clusters around a few hundred "towns", as SIRENE points are.
    towns_x = rng.uniform(minx, maxx, 400)
    towns_y = rng.uniform(miny, maxy, 400)
    half = n // 2
    t = rng.integers(0, 400, half)
    x[:half] = towns_x[t] + rng.normal(0, 0.08, half)
    y[:half] = towns_y[t] + rng.normal(0, 0.06, half)
    ids = np.char.add("E", np.arange(n).astype(str))
    naf = np.array(["47.11F", "56.10A", "68.20B", "86.21Z", "43.21A", "01.11Z"])
    table = pa.table({
        "ident": ids,
        "siret": np.char.zfill(rng.integers(0, 10**14, n).astype(str), 14),
        "denomination": np.char.add("Établissement ", np.arange(n).astype(str)),
        "activite": naf[rng.integers(0, 6, n)],
        "effectif": rng.integers(0, 500, n),
        "latitude": np.round(y, 6),
        "longitude": np.round(x, 6),
    })
    pl.from_arrow(table).write_csv(paths["csv"], separator=";")
    geom = shapely.to_wkb(shapely.points(table.column("longitude").to_numpy(),
                                         table.column("latitude").to_numpy()))
    with_geom = table.drop_columns(["latitude", "longitude"]).append_column(
        "geometry", pa.array(geom, type=pa.binary()))
    for key, driver in (("gpkg", "GPKG"), ("fgb", "FlatGeobuf")):
        tmp = paths[key].with_name(".tmp" + paths[key].name)
        write_arrow(with_geom, str(tmp), driver=driver, geometry_name="geometry",
                    geometry_type="Point", crs="EPSG:4326", layer="points")
        tmp.rename(paths[key])
    return paths


def w3_path(scale: float) -> Path:
    return DATA / f"w3_polygons_{scale:g}.gpkg"


def generate_w3(scale: float, seed: int = 3) -> Path:
    """Land-cover-like polygons (20–200 vertices) over south-west France, in Lambert-93."""
    import pyarrow as pa
    import shapely
    from pyogrio.raw import write_arrow
    from pyproj import Transformer

    path = w3_path(scale)
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = int(W3_ROWS * scale)
    tr = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    minx, miny, maxx, maxy = METRO_BBOX
    cx, cy = tr.transform(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n))
    cx, cy = np.asarray(cx), np.asarray(cy)
    nv = rng.integers(20, 201, n)
    total = int(nv.sum())
    owner = np.repeat(np.arange(n), nv)
    starts = np.concatenate([[0], np.cumsum(nv)[:-1]])
    pos = np.arange(total) - np.repeat(starts, nv)
    angle = 2 * np.pi * pos / np.repeat(nv, nv)
    radius = np.repeat(rng.uniform(300, 1500, n), nv) * rng.uniform(0.6, 1.0, total)
    px = cx[owner] + radius * np.cos(angle)
    py = cy[owner] + radius * np.sin(angle)
    # Close each ring: repeat its first vertex.
    ring_len = nv + 1
    closed_total = int(ring_len.sum())
    coords = np.empty((closed_total, 2))
    ring_starts = np.concatenate([[0], np.cumsum(ring_len)[:-1]])
    dest = np.arange(total) + np.repeat(np.arange(n), nv)
    coords[dest, 0] = px
    coords[dest, 1] = py
    last = ring_starts + nv
    coords[last] = coords[ring_starts]
    ring_offsets = np.concatenate([[0], np.cumsum(ring_len)])
    poly_offsets = np.arange(n + 1)
    polys = shapely.from_ragged_array(shapely.GeometryType.POLYGON, coords,
                                      (ring_offsets, poly_offsets))
    codes = np.array(["111", "112", "211", "311", "312", "512"])
    table = pa.table({
        "ident": np.char.add("P", np.arange(n).astype(str)),
        "code_18": codes[rng.integers(0, 6, n)],
        "area_ha": np.round(shapely.area(polys) / 1e4, 2),
        "geometry": pa.array(shapely.to_wkb(polys), type=pa.binary()),
    })
    tmp = path.with_name(".tmp" + path.name)
    write_arrow(table, str(tmp), driver="GPKG", geometry_name="geometry",
                geometry_type="Polygon", crs="EPSG:2154", layer="landcover")
    tmp.rename(path)
    return path
