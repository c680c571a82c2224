"""Operator contour loads: GeoJSON, gzip, over HTTP, and clear failures on bad files."""
from __future__ import annotations

import gzip
import http.server
import json
import threading
from pathlib import Path

import pytest
import shapely

from ckanext.dataclic.territories.sources import ContourSourceError, load_contours


def write_contours(path: Path, ref, codes: dict[str, str]) -> bytes:
    """A real GeoJSON in the Etalab 'contours administratifs' shape (code, nom)."""
    features = [
        {
            "type": "Feature",
            "properties": {"code": data_code, "nom": ref.current_commune(data_code).name},
            # A buffered contour, so the loaded geometry is recognisably not the embedded one.
            "geometry": json.loads(shapely.to_geojson(
                ref.commune_geometry(current).buffer(0.001))),
        }
        for data_code, current in codes.items()
    ]
    payload = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    path.write_bytes(payload)
    return payload


@pytest.fixture()
def contour_file(tmp_path, ref) -> Path:
    path = tmp_path / "communes.geojson"
    write_contours(path, ref, {"33063": "33063", "1001": "01001"})
    return path


def test_load_geojson_overrides_only_its_communes(ref, contour_file):
    finer = load_contours(ref, contour_file, vintage="Etalab 2026")
    assert finer.commune_geometry("33063").area > ref.commune_geometry("33063").area
    assert finer.commune_geometry("01001").area > ref.commune_geometry("01001").area
    assert finer.commune_geometry("33281") is ref.commune_geometry("33281")
    assert finer.status()["contour_sources"][-1]["vintage"] == "Etalab 2026"
    assert ref.resolve("commune:33063").geometry.area < finer.resolve("commune:33063").geometry.area


def test_load_gzipped_geojson(ref, contour_file, tmp_path):
    packed = tmp_path / "communes.geojson.gz"
    packed.write_bytes(gzip.compress(contour_file.read_bytes()))
    finer = load_contours(ref, packed)
    assert finer.status()["contour_sources"][-1]["communes"] == 2


def test_load_over_http(ref, contour_file):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(contour_file.parent), **kwargs)

        def log_message(self, *args):  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        finer = load_contours(ref, f"{base}/communes.geojson")
        assert finer.commune_geometry("33063").area > ref.commune_geometry("33063").area
        with pytest.raises(ContourSourceError, match="Cannot download"):
            load_contours(ref, f"{base}/missing.geojson")
    finally:
        server.shutdown()
        server.server_close()


def test_truncated_geojson_fails_clearly_and_keeps_the_referential(ref, contour_file, tmp_path):
    before = ref.commune_geometry("33063")
    broken = tmp_path / "broken.geojson"
    broken.write_bytes(contour_file.read_bytes()[:5000])
    with pytest.raises(ContourSourceError, match="corrupt, truncated or not a vector format"):
        load_contours(ref, broken)
    assert ref.commune_geometry("33063") is before


def test_truncated_gzip_fails_clearly(ref, contour_file, tmp_path):
    packed = gzip.compress(contour_file.read_bytes())
    broken = tmp_path / "broken.geojson.gz"
    broken.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ContourSourceError, match="corrupt or truncated"):
        load_contours(ref, broken)


def test_missing_file_and_missing_code_column(ref, tmp_path):
    with pytest.raises(ContourSourceError, match="does not exist"):
        load_contours(ref, tmp_path / "nope.geojson")
    nameless = tmp_path / "nameless.geojson"
    nameless.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"label": "x"},
         "geometry": {"type": "Point", "coordinates": [0, 0]}}]}))
    with pytest.raises(ContourSourceError, match="No INSEE code column"):
        load_contours(ref, nameless)


def test_admin_express_style_geopackage_in_lambert93(ref, tmp_path):
    """IGN ADMIN EXPRESS ships GeoPackages in Lambert-93 with an INSEE_COM column."""
    import geopandas

    frame = geopandas.GeoDataFrame(
        {"INSEE_COM": ["33063", "33281"], "NOM": ["Bordeaux", "Mérignac"]},
        geometry=[ref.commune_geometry("33063"), ref.commune_geometry("33281")],
        crs=4326,
    ).to_crs(2154)
    path = tmp_path / "COMMUNE.gpkg"
    frame.to_file(path, driver="GPKG")
    finer = load_contours(ref, path, vintage="ADMIN EXPRESS test")
    loaded = finer.commune_geometry("33063")
    # Back in EPSG:4326, the same shape (up to reprojection rounding).
    assert loaded.symmetric_difference(ref.commune_geometry("33063")).area < 1e-8
    assert finer.status()["contour_sources"][-1]["communes"] == 2
