"""Extraction on real public files (../shared/data/green); expected results are computed
here independently (csv/json modules, shapely and pyproj directly)."""

from __future__ import annotations

import csv
import json
import zipfile

import numpy as np
import pyproj
import shapely
from shapely.ops import transform

from ckanext.dataclic.extract import detect_profile, extract

from .conftest import read_csv_rows

SPARTE = "sparte_example_import_artif_commune_bassin-arcachon_33.csv"
METEO = "meteofrance_stations_climato_nouvelle-aquitaine.geojson"
PNR_GEOJSON = "inpn_pnr_normandie-maine_2021_wgs84.geojson"
PNR_SHP = "inpn_pnr_normandie-maine_2025_epsg3857/territoire_limites.shp"


def test_land_take_csv_joins_on_the_code_not_the_name(tmp_path, ref, green):
    src = green / SPARTE
    profile = detect_profile(src, ref)
    assert profile.code_column == "insee"
    assert profile.delimiter == ","
    # 33011 is Arès, although the row is labelled ARCACHON.
    ares = ref.resolve("commune:33011")
    out = tmp_path / "ares.csv"
    result = extract(src, ares, out, referential=ref, enrich=True)
    header, rows = read_csv_rows(out)
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert row["name"] == "ARCACHON" and row["insee"] == "33011"
    assert row["commune_name"] == "Arès"
    assert result.report.rows_read == 17


def test_land_take_csv_for_an_epci(tmp_path, ref, green):
    src = green / SPARTE
    cobas = ref.resolve("epci:243300563")  # COBAS (Arcachon, La Teste, Gujan, Le Teich)
    with src.open(newline="") as fh:
        expected = [r["insee"] for r in csv.DictReader(fh) if r["insee"] in cobas.codes]
    assert expected
    out = tmp_path / "cobas.csv"
    extract(src, cobas, out, referential=ref, delimiter=",")
    assert [r[1] for r in read_csv_rows(out, ",")[1]] == expected


def test_meteo_france_stations_by_num_poste_prefix(tmp_path, ref, bordeaux, green):
    src = green / METEO
    profile = detect_profile(src, ref)
    assert profile.code_column == "NUM_POSTE"
    assert profile.code_slice == (0, 5)
    features = json.loads(src.read_text(encoding="utf-8"))["features"]
    expected = sorted(f["properties"]["NUM_POSTE"] for f in features
                      if f["properties"]["NUM_POSTE"][:5] in bordeaux.codes)
    assert expected
    out = tmp_path / "stations.geojson"
    result = extract(src, bordeaux, out, referential=ref, mode="filter", enrich=True)
    got = json.loads(out.read_text())["features"]
    assert sorted(f["properties"]["NUM_POSTE"] for f in got) == expected
    assert all(f["geometry"]["type"] == "Point" for f in got)
    assert all(f["properties"]["epci_siren"] == "243300316" for f in got)
    assert result.report.rows_read == len(features)


def _area_km2(geom_wgs84) -> float:
    tr = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    return transform(tr.transform, geom_wgs84).area / 1e6


def test_park_polygon_clipped_to_a_departement_geojson(tmp_path, ref, green):
    orne = ref.resolve("departement:61")
    src = green / PNR_GEOJSON
    park = shapely.from_geojson(json.dumps(json.loads(src.read_text())["features"][0]["geometry"]))
    expected = _area_km2(shapely.make_valid(park).intersection(orne.geometry))
    out = tmp_path / "pnr_orne.geojson"
    result = extract(src, orne, out, referential=ref, mode="clip")
    got = json.loads(out.read_text())["features"]
    assert len(got) == 1 and result.report.rows_kept == 1
    clipped = shapely.from_geojson(json.dumps(got[0]["geometry"]))
    assert abs(_area_km2(clipped) - expected) < 0.005 * expected
    assert _area_km2(clipped) < 0.8 * _area_km2(park)  # it was really cut
    assert orne.geometry.buffer(1e-6).contains(clipped)
    assert got[0]["properties"]["id_mnhn"] == "FR8000026"


def test_park_shapefile_in_web_mercator_with_latin1_dbf(tmp_path, ref, green):
    orne = ref.resolve("departement:61")
    src = green / PNR_SHP
    profile = detect_profile(src, ref)
    assert profile.crs == "EPSG:3857"
    import pyogrio

    raw = pyogrio.read_dataframe(src)  # independent read of the source
    tr = pyproj.Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    park = transform(tr.transform, raw.geometry.iloc[0])
    expected = _area_km2(shapely.make_valid(park).intersection(orne.geometry))
    out = tmp_path / "pnr.zip"
    result = extract(src, orne, out, referential=ref, mode="clip", out_crs="EPSG:2154")
    assert result.report.output_crs == "EPSG:2154"
    with zipfile.ZipFile(out) as zf:
        names = sorted(zf.namelist())
    assert names == ["pnr.cpg", "pnr.dbf", "pnr.prj", "pnr.shp", "pnr.shx"]
    got = pyogrio.read_dataframe(f"/vsizip/{out}/pnr.shp")
    assert got.crs.to_epsg() == 2154
    assert abs(got.geometry.iloc[0].area / 1e6 - expected) < 0.01 * expected
    assert "Aménagement" in " ".join(str(v) for v in got.iloc[0].values)


def test_hubeau_stations_by_point_in_polygon(tmp_path, ref, gironde, green):
    src = green / "hubeau_piezometrie_stations_national_brgm.json"
    records = json.loads(src.read_text(encoding="utf-8"))
    x = np.array([r["longx"] for r in records], dtype=float)
    y = np.array([r["laty"] for r in records], dtype=float)
    inside = shapely.intersects_xy(gironde.geometry, x, y)
    expected = sorted(r["bss_id"] for r, keep in zip(records, inside, strict=True) if keep)
    assert len(expected) > 20
    out = tmp_path / "piezo.csv"
    result = extract(src, gironde, out, referential=ref, enrich=True)
    assert result.report.mode == "intersects"
    header, rows = read_csv_rows(out)
    got = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert sorted(got) == expected
    assert all(r["departement_code"] == "33" for r in got.values())
    assert result.report.enrichment_method.startswith("point in commune")


def test_hydrometry_stations_to_geopackage(tmp_path, ref, bordeaux, green):
    import pyogrio

    src = green / "hubeau_hydrometrie_stations_national_brgm.json"
    records = json.loads(src.read_text(encoding="utf-8"))
    profile = detect_profile(src, ref)
    assert profile.geometry == "latlon"
    lon = np.array([r[profile.lon_column] for r in records], dtype=float)
    lat = np.array([r[profile.lat_column] for r in records], dtype=float)
    expected = int(shapely.intersects_xy(bordeaux.geometry, lon, lat).sum())
    out = tmp_path / "hydro.gpkg"
    result = extract(src, bordeaux, out, referential=ref)
    got = pyogrio.read_dataframe(out)
    assert len(got) == expected == result.report.rows_kept
    assert got.crs.to_epsg() == 4326
