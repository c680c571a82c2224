"""The ``dataclic`` console script, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

CLI = [sys.executable, "-m", "ckanext.dataclic.extract.cli"]


def run(*args, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          check=False,
                          timeout=120)


def test_extract_prints_the_report_and_writes_json(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("code_insee;v\n33063;a\n33110;b\n75056;c\n99999;d\n", encoding="utf-8")
    out = tmp_path / "out.geojson"
    report = tmp_path / "report.json"
    proc = run("extract", src, "-t", "epci:243300316", "-o", out, "--report", report,
               "--enrich")
    assert proc.returncode == 0, proc.stderr
    assert "rows kept: 2" in proc.stdout
    assert "rows remapped from former codes: 1" in proc.stdout
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal
    data = json.loads(report.read_text())
    assert data["report"]["rows_read"] == 4
    assert data["report"]["unknown_codes"] == [["99999", 1]]
    assert data["profile"]["code_column"] == "code_insee"
    feats = json.loads(out.read_text())["features"]
    assert [f["properties"]["commune_code"] for f in feats] == ["33063", "33063"]


def test_format_option_and_stored_profile(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("ref|commune\nA|33063\nB|33281\nC|75056\n", encoding="utf-8")
    proc = run("profile", src)
    assert proc.returncode == 0, proc.stderr
    profile = json.loads(proc.stdout)
    assert profile["code_column"] == "commune" and profile["delimiter"] == "|"
    stored = tmp_path / "profile.json"
    stored.write_text(proc.stdout)
    out = tmp_path / "out.data"
    proc = run("extract", src, "-t", "commune:33281", "-o", out, "--format", "csv",
               "--profile", stored, "--out-delimiter", ",")
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines() == ["ref,commune", "B,33281"]


def test_bad_input_gives_one_line_and_non_zero_exit(tmp_path):
    src = tmp_path / "garbage.csv"
    src.write_bytes(bytes(range(256)) * 10)
    proc = run("extract", src, "-t", "epci:243300316", "-o", tmp_path / "o.csv")
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: ")
    proc = run("extract", tmp_path / "missing.csv", "-t", "epci:243300316",
               "-o", tmp_path / "o.csv")
    assert proc.returncode != 0 and "not found" in proc.stderr
    ok = tmp_path / "ok.csv"
    ok.write_text("code_insee;v\n33063;a\n")
    proc = run("extract", ok, "-t", "planet:earth", "-o", tmp_path / "o.csv")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "epci:" in proc.stderr  # the message names the accepted forms
    proc = run("extract", ok, "-t", "epci:243300316", "-o", tmp_path / "o.csv",
               "--code-column", "nope")
    assert proc.returncode != 0 and "No column named 'nope'" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.csv", "ok.csv"]


def test_startup_does_not_import_heavy_libraries():
    code = ("import sys; from ckanext.dataclic.extract import cli; "
            "print(sorted(m for m in ('numpy','pyarrow','shapely','pyogrio','geopandas',"
            "'polars','pyproj') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=60)
    assert proc.stdout.strip() == "[]"
