"""The CSV code index: built once per file version, then extractions read only their rows."""

from __future__ import annotations

import os
import subprocess
import sys

from ckanext.dataclic.extract import extract
from ckanext.dataclic.extract.engine import build_index

LINES = ["code_insee;nom;v"] + [
    f"{code};\"nom; {i}\";{i}" for i, code in enumerate(
        ["33063", "75056", "33281", "99999", "1053", "33110", " 33063 ", "2A004"] * 25)
]


def test_indexed_extraction_equals_the_scan(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    folder, meta = build_index(src, referential=ref)
    assert folder == tmp_path / "in.csv.dataclic-index" and meta["rows"] == 200
    scanned = extract(src, bordeaux, tmp_path / "scan.csv", referential=ref, use_index=False)
    indexed = extract(src, bordeaux, tmp_path / "idx.csv", referential=ref)
    assert indexed.report.index_used and not scanned.report.index_used
    assert (tmp_path / "idx.csv").read_bytes() == (tmp_path / "scan.csv").read_bytes()
    for field in ("rows_read", "rows_kept", "rows_unknown_code", "unknown_codes",
                  "rows_remapped"):
        assert getattr(indexed.report, field) == getattr(scanned.report, field), field
    assert indexed.report.rows_kept == 100  # 33063, 33281, 33110 and " 33063 " rows
    enriched = extract(src, bordeaux, tmp_path / "idx.geojson", referential=ref, enrich=True)
    assert enriched.report.rows_kept == 100


def test_a_changed_file_is_scanned_again(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    build_index(src, referential=ref)
    with src.open("a", encoding="utf-8") as fh:
        fh.write("33063;ajout;999\n")
    os.utime(src, ns=(1, 1))
    result = extract(src, bordeaux, tmp_path / "out.csv", referential=ref)
    assert not result.report.index_used
    assert result.report.rows_kept == 101


def test_index_command(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    where = tmp_path / "indexes"
    where.mkdir()
    cli = [sys.executable, "-m", "ckanext.dataclic.extract.cli"]
    proc = subprocess.run([*cli, "index", str(src), "--index-dir", str(where)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "indexed 200 rows" in proc.stdout
    proc = subprocess.run([*cli, "extract", str(src), "-t", "commune:75056", "-o",
                           str(tmp_path / "paris.csv"), "--index-dir", str(where),
                           "--report", str(tmp_path / "r.json")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"index_used": true' in (tmp_path / "r.json").read_text()
    assert len((tmp_path / "paris.csv").read_text().splitlines()) == 26
    proc = subprocess.run([*cli, "index", str(tmp_path / "nope.csv")], capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode != 0 and "not found" in proc.stderr


def _points_csv(path):
    import numpy as np

    xs = np.linspace(-1.2, 0.2, 29)
    ys = np.linspace(44.5, 45.3, 17)
    lines = ["ident;libelle;latitude;longitude"]
    n = 0
    for x in xs:
        for y in ys:
            label = f'"site {n}; ""quoted""\nsecond line"' if n % 7 == 0 else f"site {n}"
            lines.append(f"p{n};{label};{y:.5f};{x:.5f}")
            n += 1
    lines.append("nogeo;sans coordonnées;;")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_point_index_equals_the_scan(tmp_path, ref, bordeaux):
    src = _points_csv(tmp_path / "pts.csv")
    _, meta = build_index(src, referential=ref)
    assert meta["kind"] == "points" and meta["rows"] == 29 * 17 + 1
    scanned = extract(src, bordeaux, tmp_path / "scan.csv", referential=ref, use_index=False,
                      mode="intersects")
    indexed = extract(src, bordeaux, tmp_path / "idx.csv", referential=ref, mode="intersects")
    assert indexed.report.index_used and not scanned.report.index_used
    assert indexed.report.rows_kept == scanned.report.rows_kept > 10
    assert indexed.report.rows_read == scanned.report.rows_read
    assert indexed.report.rows_without_geometry == scanned.report.rows_without_geometry == 1
    from .conftest import read_csv_rows

    assert read_csv_rows(tmp_path / "idx.csv") == read_csv_rows(tmp_path / "scan.csv")
    geo = extract(src, bordeaux, tmp_path / "idx.geojson", referential=ref, mode="clip",
                  enrich=True)
    assert geo.report.index_used and geo.report.rows_kept == scanned.report.rows_kept
    import json

    feats = json.loads((tmp_path / "idx.geojson").read_text())["features"]
    assert {f["properties"]["epci_siren"] for f in feats} == {"243300316"}
    assert any("\n" in f["properties"]["libelle"] for f in feats)


def test_the_index_keeps_a_copy_of_the_rows_grouped_by_code(tmp_path, ref):
    """The copy holds every data row once, each commune's rows in one block."""
    src = tmp_path / "in.csv"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    folder, _ = build_index(src, referential=ref)
    data_rows = sorted(line + "\n" for line in LINES[1:])
    copy = (folder / "rows.bin").read_text(encoding="utf-8")
    assert sorted(copy.splitlines(keepends=True)) == data_rows
    codes = [row.split(";")[0].strip() for row in copy.splitlines()]
    blocks = [c for i, c in enumerate(codes) if i == 0 or codes[i - 1] != c]
    assert len(blocks) == len(set(codes))  # one block per commune code


def test_a_last_row_without_newline_stays_a_row(tmp_path, ref, bordeaux):
    """The file's last record (no newline) sorts into the middle of the copy: it must not
    run into the next record."""
    src = tmp_path / "in.csv"
    src.write_bytes(b"code_insee;v\r\n33063;a\r\n75056;b\r\n33281;c\r\n33063;d")
    build_index(src, referential=ref)
    extract(src, bordeaux, tmp_path / "scan.csv", referential=ref, use_index=False)
    indexed = extract(src, bordeaux, tmp_path / "idx.csv", referential=ref)
    assert indexed.report.index_used and indexed.report.rows_kept == 3
    assert (tmp_path / "idx.csv").read_bytes() == (tmp_path / "scan.csv").read_bytes()
    assert (tmp_path / "idx.csv").read_text().splitlines()[1:] == ["33063;a", "33281;c",
                                                                    "33063;d"]


def test_a_large_slice_is_read_row_by_row_in_file_order(tmp_path, ref, bordeaux, monkeypatch):
    """Beyond the in-memory budget the slice is read from the source in file order: same
    output, bounded memory."""
    from ckanext.dataclic.extract import index, pointindex

    monkeypatch.setattr(index, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(pointindex, "IN_MEMORY_BYTES", 0)
    src = tmp_path / "in.csv"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    build_index(src, referential=ref)
    extract(src, bordeaux, tmp_path / "scan.csv", referential=ref, use_index=False)
    indexed = extract(src, bordeaux, tmp_path / "idx.csv", referential=ref)
    assert indexed.report.index_used
    assert (tmp_path / "idx.csv").read_bytes() == (tmp_path / "scan.csv").read_bytes()
    pts = _points_csv(tmp_path / "pts.csv")
    build_index(pts, referential=ref)
    scanned = extract(pts, bordeaux, tmp_path / "pscan.csv", referential=ref,
                      use_index=False, mode="intersects")
    indexed = extract(pts, bordeaux, tmp_path / "pidx.csv", referential=ref,
                      mode="intersects")
    assert indexed.report.index_used
    assert (tmp_path / "pidx.csv").read_bytes() == (tmp_path / "pscan.csv").read_bytes()
    assert indexed.report.rows_kept == scanned.report.rows_kept > 10


def test_clustered_copy_in_buckets_matches_one_sort(tmp_path):
    """Many small buckets (the dealing pass and the per-bucket sort) give the same copy as
    sorting all records at once."""
    import numpy as np

    from ckanext.dataclic.extract import clustered

    rng = np.random.default_rng(5)
    rows = [f"{rng.integers(0, 40)};{'x' * int(rng.integers(0, 30))};{i}\n".encode()
            for i in range(3000)]
    src = tmp_path / "rows.csv"
    src.write_bytes(b"".join(rows))
    lengths = np.array([len(r) for r in rows], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    keys = np.array([int(r.split(b";")[0]) for r in rows])
    order = clustered.sort_order(keys)
    expected = b"".join(rows[i] for i in order.tolist())
    for bucket_bytes, read_bytes in ((1 << 30, 1 << 30), (1000, 777), (1, 1)):
        out = tmp_path / f"copy-{bucket_bytes}"
        out.mkdir()
        old = clustered.BUCKET_BYTES, clustered.READ_BYTES
        clustered.BUCKET_BYTES, clustered.READ_BYTES = bucket_bytes, read_bytes
        try:
            clustered.write_clustered(src, out, offsets, lengths, order)
        finally:
            clustered.BUCKET_BYTES, clustered.READ_BYTES = old
        assert (out / "rows.bin").read_bytes() == expected
        assert not (out / "buckets").exists()
