"""Bad input: one clear ExtractionError or a report line; never a partial output file."""

from __future__ import annotations

import io
import zipfile

import pytest

from ckanext.dataclic.extract import ExtractionError, ProfileOverrides, extract


def only(tmp_path, *names):
    return sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (bytes(range(256)) * 40, "binary"),
    (b"\xff\xfec\x00o\x00d\x00e\x00", "UTF-16"),
    (b"just one line without columns\n", "No commune-code column"),
])
def test_unusable_inputs(tmp_path, ref, bordeaux, content, message):
    src = tmp_path / "in.csv"
    src.write_bytes(content)
    with pytest.raises(ExtractionError, match=message):
        extract(src, bordeaux, tmp_path / "out.csv", referential=ref)
    assert only(tmp_path, "in.csv")


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def test_zip_without_shapefile(tmp_path, ref, bordeaux):
    src = _zip(tmp_path / "in.zip", [("readme.txt", "nothing here")])
    with pytest.raises(ExtractionError, match="no shapefile"):
        extract(src, bordeaux, tmp_path / "out.geojson", referential=ref)
    assert only(tmp_path, "in.zip")


def test_zip_with_parent_paths(tmp_path, ref, bordeaux):
    src = _zip(tmp_path / "in.zip", [("../evil.shp", b"x"), ("ok.txt", b"y")])
    with pytest.raises(ExtractionError, match="unsafe path"):
        extract(src, bordeaux, tmp_path / "out.geojson", referential=ref)
    assert only(tmp_path, "in.zip")
    assert not (tmp_path.parent / "evil.shp").exists()


def test_zip_bomb(tmp_path, ref, bordeaux):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.shp", b"\0" * (64 << 20))
    src = tmp_path / "in.zip"
    src.write_bytes(buf.getvalue())
    with pytest.raises(ExtractionError, match="decompression bomb"):
        extract(src, bordeaux, tmp_path / "out.geojson", referential=ref)
    assert only(tmp_path, "in.zip")


def test_unknown_encoding(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_text("code_insee;v\n33063;a\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="Unknown text encoding: klingon"):
        extract(src, bordeaux, tmp_path / "out.csv", referential=ref,
                overrides=ProfileOverrides(encoding="klingon"))


def test_missing_columns(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_text("code_insee;lat;lon\n33063;44.8;-0.57\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="No column named 'latitude'"):
        extract(src, bordeaux, tmp_path / "out.csv", referential=ref,
                overrides=ProfileOverrides(lat_column="latitude", lon_column="lon"))


def test_coordinates_out_of_range(tmp_path, ref, bordeaux):
    src = tmp_path / "l93.csv"
    src.write_text("id;lat;lon\n1;6423000;417000\n2;6424000;418000\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="out of range for EPSG:4326"):
        extract(src, bordeaux, tmp_path / "out.geojson", referential=ref)
    assert only(tmp_path, "l93.csv")
    # Declaring the right CRS fixes it.
    result = extract(src, bordeaux, tmp_path / "out.geojson", referential=ref,
                     overrides=ProfileOverrides(crs="EPSG:2154"))
    assert result.report.rows_read == 2


def test_some_coordinates_out_of_range_are_reported(tmp_path, ref, bordeaux):
    src = tmp_path / "pts.csv"
    src.write_text("id;lat;lon\n1;44.84;-0.58\n2;144.0;-0.58\n3;;\n", encoding="utf-8")
    result = extract(src, bordeaux, tmp_path / "out.geojson", referential=ref)
    assert result.report.rows_kept == 1
    assert result.report.rows_without_geometry == 2
    assert any("out of range" in w for w in result.report.warnings)


def test_unknown_crs(tmp_path, ref, bordeaux):
    src = tmp_path / "pts.csv"
    src.write_text("id;lat;lon\n1;44.84;-0.58\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="Unknown coordinate reference system"):
        extract(src, bordeaux, tmp_path / "out.geojson", referential=ref, out_crs="EPSG:999999")


def test_no_match_is_a_report_line_and_a_valid_empty_file(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_text("code_insee;v\n75056;a\n", encoding="utf-8")
    result = extract(src, bordeaux, tmp_path / "out.geojson", referential=ref)
    assert result.report.rows_kept == 0
    assert result.report.warnings == ["no row matched the perimeter epci:243300316"]
    assert '"features":[' in (tmp_path / "out.geojson").read_text()


def test_failure_midway_leaves_no_partial_file(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_text("code_insee;v\n" + "33063;a\n" * 200_000, encoding="utf-8")
    out = tmp_path / "out.csv"
    out.write_text("previous result\n")

    def boom(done, total):
        if done > 1 << 20:
            raise RuntimeError("disk on fire")

    from ckanext.dataclic.extract import csvscan

    saved = csvscan.CHUNK_BYTES
    with pytest.raises(ExtractionError, match="disk on fire"):
        extract(src, bordeaux, out, referential=ref, progress=boom)
    assert saved == csvscan.CHUNK_BYTES
    assert out.read_text() == "previous result\n"  # untouched: written only when complete
    assert only(tmp_path, "in.csv", "out.csv")


def test_output_folder_must_exist_and_input_is_not_overwritten(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_text("code_insee;v\n33063;a\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="does not exist"):
        extract(src, bordeaux, tmp_path / "nope" / "out.csv", referential=ref)
    with pytest.raises(ExtractionError, match="overwrite the input"):
        extract(src, bordeaux, src, referential=ref)
    with pytest.raises(ExtractionError, match="output format"):
        extract(src, bordeaux, tmp_path / "out.xlsx", referential=ref)
    assert only(tmp_path, "in.csv")


def test_shapefile_output_needs_geometry(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_text("code_insee;v\n33063;a\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="needs geometries"):
        extract(src, bordeaux, tmp_path / "out.zip", referential=ref)
    assert only(tmp_path, "in.csv")


def test_unbalanced_quote(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_text('code_insee;v\n33063;"a\n33281;b\n', encoding="utf-8")
    result = extract(src, bordeaux, tmp_path / "out.csv", referential=ref)
    # The open quote swallows the rest of the file: reported, not silently dropped.
    assert result.report.rows_read == 0
    assert any("unbalanced quote" in w for w in result.report.warnings)


def test_coordinates_out_of_range_for_a_projected_crs(tmp_path, ref, bordeaux):
    """Degrees declared as Lambert-93 (or as UTM 20N) lie outside the CRS's area of use."""
    src = tmp_path / "deg.csv"
    src.write_text("id;x;y\n1;-0.58;44.84\n2;-0.57;44.85\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="out of range for EPSG:2154"):
        extract(src, bordeaux, tmp_path / "out.geojson", referential=ref,
                overrides=ProfileOverrides(lat_column="y", lon_column="x", crs="EPSG:2154"))
    assert only(tmp_path, "deg.csv")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("id;x;y\n1;417000;6423000\n2;-0.57;44.85\n", encoding="utf-8")
    result = extract(mixed, bordeaux, tmp_path / "out.geojson", referential=ref,
                     overrides=ProfileOverrides(lat_column="y", lon_column="x",
                                                crs="EPSG:2154"))
    assert result.report.rows_without_geometry == 1
    assert any("out of range for EPSG:2154" in w for w in result.report.warnings)
