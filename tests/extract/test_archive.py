"""Data files zipped by their publisher: read from the archive as if they were plain."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile

import pytest

from ckanext.dataclic.extract import ExtractionError, detect_profile, extract
from ckanext.dataclic.extract.engine import build_index

LAND_TAKE = "sparte_example_import_artif_commune_bassin-arcachon_33.csv"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The system temporary folder, watched: an unpacked copy must not outlive its use."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _zip(path, entries, method=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def test_a_zipped_csv_gives_the_same_extract_as_the_plain_file(tmp_path, ref, green,
                                                                scratch):
    plain = green / LAND_TAKE
    src = _zip(tmp_path / "artif.zip", [("LISEZMOI.txt", "Notice"),
                                        ("datapackage.json", "{}"),
                                        (f"donnees/{LAND_TAKE}", plain.read_bytes())])
    gironde = ref.resolve("departement:33")
    a = extract(plain, gironde, tmp_path / "a.csv", referential=ref, enrich=True)
    b = extract(src, gironde, tmp_path / "b.csv", referential=ref, enrich=True)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert b.report.rows_kept == a.report.rows_kept > 0
    assert b.profile.archive_member == f"donnees/{LAND_TAKE}"
    assert b.profile.code_column == a.profile.code_column == "insee"
    assert detect_profile(src, ref).archive_member == f"donnees/{LAND_TAKE}"
    assert list(scratch.iterdir()) == []  # the unpacked copy is gone


def test_a_zipped_geojson_next_to_a_notice(tmp_path, ref, bordeaux, green, scratch):
    stations = green / "hubeau_piezometrie_stations_national_brgm.json"
    src = _zip(tmp_path / "stations.zip", [("stations.geojson", stations.read_bytes()),
                                           ("README.txt", "x")])
    a = extract(stations, bordeaux, tmp_path / "a.geojson", referential=ref)
    b = extract(src, bordeaux, tmp_path / "b.geojson", referential=ref)
    assert json.loads((tmp_path / "b.geojson").read_text()) == json.loads(
        (tmp_path / "a.geojson").read_text())
    assert b.report.rows_kept == a.report.rows_kept
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("entries,message", [
    ([("a.csv", "insee;v\n33063;1\n"), ("b.csv", "insee;v\n33063;2\n")],
     "several data files"),
    ([("LISEZMOI.txt", "only a notice")], "no shapefile and no data file"),
    ([("../../evil.csv", "insee;v\n33063;1\n")], "unsafe path"),
    ([("big.csv", b"0" * (64 << 20))], "decompression bomb"),
])
def test_unusable_archives_are_refused_before_anything_is_written(tmp_path, ref, bordeaux,
                                                                 scratch, entries, message):
    src = _zip(tmp_path / "in.zip", entries)
    with pytest.raises(ExtractionError, match=message):
        extract(src, bordeaux, tmp_path / "out.csv", referential=ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zip", "system-tmp"]
    assert list(scratch.iterdir()) == []


def test_a_corrupt_member_is_a_clear_error_and_leaves_nothing(tmp_path, ref, bordeaux,
                                                              scratch):
    rows = "insee;v\n" + "".join(f"33063;{i}\n" for i in range(5000))
    src = _zip(tmp_path / "in.zip", [("data.csv", rows)], method=zipfile.ZIP_STORED)
    raw = bytearray(src.read_bytes())
    at = raw.index(b"33063;2500")
    raw[at:at + 5] = b"99999"  # the stored CRC no longer matches
    src.write_bytes(bytes(raw))
    with pytest.raises(ExtractionError, match="cannot unpack data.csv"):
        extract(src, bordeaux, tmp_path / "out.csv", referential=ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zip", "system-tmp"]
    assert list(scratch.iterdir()) == []


def test_an_index_is_not_built_on_an_archive(tmp_path, ref):
    src = _zip(tmp_path / "in.zip", [("data.csv", "insee;v\n33063;1\n")])
    with pytest.raises(ExtractionError, match="unzip in.zip first"):
        build_index(src, referential=ref)


def test_the_console_script_reads_a_zipped_csv(tmp_path, green):
    src = _zip(tmp_path / "artif.zip", [(LAND_TAKE, (green / LAND_TAKE).read_bytes())])
    out = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "ckanext.dataclic.extract.cli", "extract",
                           str(src), "-t", "departement:33", "-o", str(out)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("name;insee") and len(lines) > 1
    profile = subprocess.run([sys.executable, "-m", "ckanext.dataclic.extract.cli", "profile",
                              str(src)], check=False, capture_output=True, text=True, timeout=120)
    assert profile.returncode == 0, profile.stderr
    assert LAND_TAKE in profile.stdout
