"""Every input and output format, with synthetic files written by the tests."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely

from ckanext.dataclic.extract import detect_profile, extract

# A grid of points around Bordeaux: some in the metropole, some out.
XS = np.linspace(-0.95, -0.35, 13)
YS = np.linspace(44.70, 45.10, 11)


def grid():
    x, y = np.meshgrid(XS, YS)
    x, y = x.ravel(), y.ravel()
    ids = [f"p{i}" for i in range(x.size)]
    return ids, x, y


def expected_ids(perimeter) -> list[str]:
    ids, x, y = grid()
    keep = shapely.intersects_xy(perimeter.geometry, x, y)
    return sorted(i for i, k in zip(ids, keep, strict=True) if k)


def write_ogr(path, driver, crs="EPSG:4326"):
    import geopandas as gpd

    ids, x, y = grid()
    gdf = gpd.GeoDataFrame({"ident": ids, "valeur": np.arange(len(ids))},
                           geometry=gpd.points_from_xy(x, y), crs="EPSG:4326").to_crs(crs)
    pyogrio.write_dataframe(gdf, path, driver=driver)
    return path


def kept_ids(path) -> list[str]:
    suffix = path.suffix
    if suffix == ".geojson":
        return sorted(f["properties"]["ident"] for f in json.loads(path.read_text())["features"])
    if suffix == ".parquet":
        return sorted(pq.read_table(path).column("ident").to_pylist())
    if suffix == ".zip":
        inner = next(n for n in zipfile.ZipFile(path).namelist() if n.endswith(".shp"))
        return sorted(pyogrio.read_dataframe(f"/vsizip/{path}/{inner}")["ident"])
    if suffix == ".csv":
        lines = path.read_text(encoding="utf-8").splitlines()
        col = lines[0].split(";").index("ident")
        return sorted(line.split(";")[col] for line in lines[1:])
    return sorted(pyogrio.read_dataframe(path)["ident"])


@pytest.mark.parametrize("name,driver", [
    ("in.gpkg", "GPKG"), ("in.fgb", "FlatGeobuf"), ("in.geojson", "GeoJSON"),
    ("in.geojsonl", "GeoJSONSeq"), ("in.shp", "ESRI Shapefile"),
])
def test_ogr_inputs(tmp_path, ref, bordeaux, name, driver):
    src = write_ogr(tmp_path / name, driver)
    profile = detect_profile(src, ref)
    assert profile.geometry == "native"
    out = tmp_path / "out.geojson"
    result = extract(src, bordeaux, out, referential=ref)
    assert kept_ids(out) == expected_ids(bordeaux)
    assert result.report.rows_kept == len(expected_ids(bordeaux))


def test_geopackage_layer_choice(tmp_path, ref, bordeaux):
    import geopandas as gpd

    src = tmp_path / "two.gpkg"
    ids, x, y = grid()
    first = gpd.GeoDataFrame({"ident": ["far"]}, geometry=gpd.points_from_xy([5.0], [45.0]),
                             crs="EPSG:4326")
    pyogrio.write_dataframe(first, src, layer="loin")
    pts = gpd.GeoDataFrame({"ident": ids}, geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    pyogrio.write_dataframe(pts, src, layer="points", append=False)
    out = tmp_path / "out.geojson"
    result = extract(src, bordeaux, out, referential=ref)
    assert result.profile.layer == "loin" and result.report.rows_kept == 0
    from ckanext.dataclic.extract import ProfileOverrides

    result = extract(src, bordeaux, out, referential=ref,
                     overrides=ProfileOverrides(layer="points"))
    assert kept_ids(out) == expected_ids(bordeaux)


def test_zipped_shapefile_in_lambert93(tmp_path, ref, bordeaux):
    folder = tmp_path / "shp"
    folder.mkdir()
    write_ogr(folder / "pts.shp", "ESRI Shapefile", crs="EPSG:2154")
    src = tmp_path / "pts.zip"
    with zipfile.ZipFile(src, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, f"data/{part.name}")
    profile = detect_profile(src, ref)
    assert profile.crs == "EPSG:2154"
    out = tmp_path / "out.parquet"
    extract(src, bordeaux, out, referential=ref)
    assert kept_ids(out) == expected_ids(bordeaux)


def test_geoparquet_and_plain_parquet(tmp_path, ref, bordeaux):
    ids, x, y = grid()
    geo = tmp_path / "in.parquet"
    meta = {"version": "1.0.0", "primary_column": "geometry",
            "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}}}
    table = pa.table({"ident": ids, "geometry": shapely.to_wkb(shapely.points(x, y))})
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(meta).encode()}), geo)
    assert detect_profile(geo, ref).geometry == "native"
    out = tmp_path / "out.gpkg"
    extract(geo, bordeaux, out, referential=ref)
    assert kept_ids(out) == expected_ids(bordeaux)
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"ident": ids, "latitude": y, "longitude": x}), plain)
    assert detect_profile(plain, ref).geometry == "latlon"
    out = tmp_path / "plain_out.geojson"
    extract(plain, bordeaux, out, referential=ref)
    assert kept_ids(out) == expected_ids(bordeaux)


def test_parquet_filter_by_integer_codes(tmp_path, ref):
    ain = ref.resolve("departement:01")
    src = tmp_path / "codes.parquet"
    pq.write_table(pa.table({"code_insee": [1053, 1004, 33063, 75056], "v": [1, 2, 3, 4]}), src)
    out = tmp_path / "out.parquet"
    result = extract(src, ain, out, referential=ref, enrich=True)
    table = pq.read_table(out)
    assert table.column("v").to_pylist() == [1, 2]
    assert table.column("commune_code").to_pylist() == ["01053", "01004"]
    assert result.report.rows_kept == 2


@pytest.mark.parametrize("kind", ["point_text", "wkt", "xy"])
def test_csv_geometry_columns(tmp_path, ref, bordeaux, kind):
    ids, x, y = grid()
    src = tmp_path / "in.csv"
    if kind == "point_text":
        lines = ["ident;geo_point_2d"] + [f'{i};"{b}, {a}"' for i, a, b in zip(ids, x, y,
                                                                             strict=True)]
    elif kind == "wkt":
        lines = ["ident;wkt"] + [f"{i};POINT ({a} {b})" for i, a, b in zip(ids, x, y,
                                                                          strict=True)]
    else:
        tr = __import__("pyproj").Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
        lx, ly = tr.transform(x, y)
        lines = ["ident;x_l93;y_l93"] + [f"{i};{a:.2f};{b:.2f}".replace(".", ",")
                                         for i, a, b in zip(ids, lx, ly, strict=True)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    profile = detect_profile(src, ref)
    assert profile.geometry == {"point_text": "point_text", "wkt": "wkt", "xy": "latlon"}[kind]
    if kind == "xy":
        assert profile.crs == "EPSG:2154"
    out = tmp_path / "out.geojson"
    extract(src, bordeaux, out, referential=ref, mode="intersects")
    assert kept_ids(out) == expected_ids(bordeaux)


@pytest.mark.parametrize("fmt", ["csv", "geojson", "gpkg", "shp", "parquet"])
def test_every_output_format_in_lambert93(tmp_path, ref, bordeaux, fmt):
    src = write_ogr(tmp_path / "in.gpkg", "GPKG")
    out = tmp_path / f"out.{ {'shp': 'zip'}.get(fmt, fmt) }"
    result = extract(src, bordeaux, out, referential=ref, out_crs="EPSG:2154", enrich=True)
    assert kept_ids(out) == expected_ids(bordeaux)
    assert result.report.output_crs == "EPSG:2154"
    if fmt in ("gpkg",):
        got = pyogrio.read_dataframe(out)
        assert got.crs.to_epsg() == 2154
        assert got.total_bounds[0] > 300_000  # metres, not degrees
        assert set(got["epci_siren"]) == {"243300316"}
    if fmt == "csv":
        header = out.read_text(encoding="utf-8").splitlines()[0].split(";")
        assert header[-1] == "geometry" and "commune_code" in header


def test_polygons_intersect_and_clip(tmp_path, ref, bordeaux):
    import geopandas as gpd

    cells = [shapely.box(a, b, a + 0.05, b + 0.05) for a in XS for b in YS]
    bowtie = shapely.Polygon([(-0.6, 44.84), (-0.55, 44.88), (-0.55, 44.84), (-0.6, 44.88)])
    src = tmp_path / "cells.gpkg"
    gdf = gpd.GeoDataFrame({"ident": [f"c{i}" for i in range(len(cells))] + ["bowtie"]},
                           geometry=cells + [bowtie], crs="EPSG:4326")
    pyogrio.write_dataframe(gdf, src)
    per = bordeaux.geometry
    exp_inter = sorted(f"c{i}" for i, c in enumerate(cells) if c.intersects(per)) + ["bowtie"]
    out = tmp_path / "inter.geojson"
    result = extract(src, bordeaux, out, referential=ref, mode="intersects")
    assert kept_ids(out) == sorted(exp_inter)
    assert result.report.geometries_repaired == 1
    out = tmp_path / "clip.geojson"
    extract(src, bordeaux, out, referential=ref, mode="clip")
    feats = json.loads(out.read_text())["features"]
    clipped = {f["properties"]["ident"]: shapely.from_geojson(json.dumps(f["geometry"]))
               for f in feats}
    for i, cell in enumerate(cells):
        inter = cell.intersection(per)
        if inter.area > 0:
            assert abs(clipped[f"c{i}"].area - inter.area) < 1e-9
    assert all(per.buffer(1e-9).contains(g) for g in clipped.values())


def test_geopackage_read_through_its_rtree_keeps_every_shape(tmp_path, ref, bordeaux):
    """A layer whose name needs quoting, mixing points, polygons and a missing geometry, read
    through its R-tree: the same features as shapely's own test, in file order."""
    import geopandas as gpd

    ids, x, y = grid()
    geoms = list(gpd.points_from_xy(x, y))
    geoms[3] = shapely.box(-0.62, 44.82, -0.55, 44.87)  # a square inside Bordeaux
    geoms[5] = None
    src = tmp_path / "mixed.gpkg"
    gdf = gpd.GeoDataFrame({"ident": ids}, geometry=geoms, crs="EPSG:4326")
    layer = 'points "de" Bordeaux'
    pyogrio.write_dataframe(gdf, src, layer=layer, geometry_type="Unknown")
    assert pyogrio.read_info(src, layer=layer)["capabilities"]["fast_spatial_filter"]
    out = tmp_path / "out.csv"
    result = extract(src, bordeaux, out, referential=ref, mode="intersects")
    hit = [i for i, g in zip(ids, geoms, strict=True)
           if g is not None and shapely.intersects(bordeaux.geometry, g)]
    lines = out.read_text(encoding="utf-8").splitlines()
    col = lines[0].split(";").index("ident")
    assert [line.split(";")[col] for line in lines[1:]] == hit  # file order
    assert "p3" in hit and result.report.rows_kept == len(hit)


def test_point_wkb_is_decoded_without_shapely_only_when_safe():
    from ckanext.dataclic.extract.readers import points_from_wkb

    pts = shapely.points([1.5, -0.5], [44.0, 45.25])
    x, y = points_from_wkb(pa.array(list(shapely.to_wkb(pts)) + [None]))
    assert x[:2].tolist() == [1.5, -0.5] and y[:2].tolist() == [44.0, 45.25]
    assert np.isnan(x[2]) and np.isnan(y[2])
    big_endian = shapely.to_wkb(pts, byte_order=0)
    assert points_from_wkb(pa.array(list(big_endian))) is None
    three_d = shapely.to_wkb(shapely.points([1.0], [2.0], [3.0]))
    assert points_from_wkb(pa.array(list(three_d))) is None
    mixed = shapely.to_wkb(np.array([pts[0], shapely.box(0, 0, 1, 1)]))
    assert points_from_wkb(pa.array(list(mixed))) is None


def test_csv_points_scanned_raw_keep_rows_byte_for_byte(tmp_path, ref, bordeaux):
    """Lat/lon CSV points: quoted decimal commas, a missing and a non-numeric coordinate,
    a quoted newline, CRLF; kept rows are copied verbatim, in file order; a latin-1 file
    gives the same rows re-encoded."""
    ids, x, y = grid()
    lines = ["ident;libelle;lat;lon"]
    for i, (px, py) in enumerate(zip(x, y, strict=True)):
        lat, lon = f"{py:.5f}", f"{px:.5f}"
        if i % 5 == 0:
            lat, lon = f'"{lat.replace(".", ",")}"', f'"{lon.replace(".", ",")}"'
        label = f'"site {i};\nquai"' if i % 7 == 0 else f"site é {i}"
        lines.append(f"{ids[i]};{label};{lat};{lon}")
    lines += ["nolat;vide;;-0.57", "text;texte;abc;-0.57"]
    src = tmp_path / "pts.csv"
    src.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    out = tmp_path / "out.csv"
    result = extract(src, bordeaux, out, referential=ref, mode="intersects")
    expected = expected_ids(bordeaux)
    got = out.read_bytes().decode("utf-8")
    assert result.report.rows_kept == len(expected)
    assert result.report.rows_without_geometry == 2 and result.report.rows_read == len(ids) + 2
    # Verbatim: every kept record is one of the input's records, in file order.
    body = got[got.index("\n") + 1:]
    originals = [line for line in lines[1:] if line.split(";")[0] in set(expected)]
    assert body == "".join(rec + "\r\n" for rec in originals)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    result = extract(latin, bordeaux, tmp_path / "latin-out.csv", referential=ref,
                     mode="intersects")
    assert result.report.rows_kept == len(expected)
    assert "site é" in (tmp_path / "latin-out.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["csv", "geojson", "gpkg", "shp", "parquet"])
def test_points_kept_in_their_crs_are_written_with_their_own_coordinates(tmp_path, ref,
                                                                         bordeaux, fmt):
    """Points read from a GeoPackage in WGS84 and written in WGS84 keep their exact
    coordinates in every output format (the source's geometry is passed through)."""
    src = write_ogr(tmp_path / "in.gpkg", "GPKG")
    out = tmp_path / f"out.{ {'shp': 'zip'}.get(fmt, fmt) }"
    result = extract(src, bordeaux, out, referential=ref, mode="intersects")
    assert kept_ids(out) == expected_ids(bordeaux)
    assert result.report.rows_kept == len(expected_ids(bordeaux))
    ids, x, y = grid()
    want = {i: (a, b) for i, a, b in zip(ids, x.tolist(), y.tolist(), strict=True)}
    if fmt == "csv":
        lines = out.read_text(encoding="utf-8").splitlines()
        header = lines[0].split(";")
        got = {r[header.index("ident")]: shapely.from_wkt(r[-1]).coords[0]
               for r in (line.split(";") for line in lines[1:])}
    elif fmt == "geojson":
        got = {f["properties"]["ident"]: tuple(f["geometry"]["coordinates"])
               for f in json.loads(out.read_text())["features"]}
    elif fmt == "parquet":
        table = pq.read_table(out)
        pts = shapely.from_wkb(table.column("geometry").to_pylist())
        got = dict(zip(table.column("ident").to_pylist(),
                       [p.coords[0] for p in pts], strict=True))
    else:
        path = out if fmt == "gpkg" else (
            f"/vsizip/{out}/" + next(n for n in zipfile.ZipFile(out).namelist()
                                     if n.endswith(".shp")))
        frame = pyogrio.read_dataframe(path)
        assert frame.geom_type.eq("Point").all()
        got = dict(zip(frame["ident"], [p.coords[0] for p in frame.geometry], strict=True))
    assert got == {i: want[i] for i in got}
