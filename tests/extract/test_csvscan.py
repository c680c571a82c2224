"""The streaming CSV filter by commune code, on every dialect and encoding case."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ckanext.dataclic.extract import ExtractionError, ProfileOverrides, detect_profile, extract

from .conftest import read_csv_rows

# Codes in and out of Bordeaux Métropole, a former code (33110 merged into Bordeaux),
# an unknown code, a Corsican code and a Paris arrondissement.
ROWS = [
    ("1", "33063", "Bordeaux", "44,8378", "-0,5792"),
    ("2", "33281", "Mérignac; centre", "44,8386", "-0,6436"),
    ("3", "33110", "ancien code \"Caudéran\"", "44,85", "-0,61"),
    ("4", "75056", "Paris\nsur deux lignes", "48,8566", "2,3522"),
    ("5", "99999", "inconnu", "45,0", "0,0"),
    ("6", "2A004", "Ajaccio", "41,9192", "8,7386"),
    ("7", "33522", "Talence, \"sud\"", "44,8024", "-0,5886"),
    ("8", "33009", "Arcachon", "44,6586", "-1,1681"),
]
HEADER = ["id", "code_insee", "libelle", "lat", "lon"]


def write_csv(path: Path, delimiter: str, encoding: str, newline: str, rows=ROWS,
              header=HEADER) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline,
                        quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    if encoding == "latin-1":
        text = text.replace("Ajaccio", "Ajaccio é")
    path.write_bytes(text.encode(encoding))
    return path


def expected_ids(perimeter) -> list[str]:
    return [r[0] for r in ROWS if r[1] in perimeter.codes]


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_every_dialect_keeps_the_perimeter_rows(tmp_path, ref, bordeaux, delimiter, encoding,
                                                newline):
    src = write_csv(tmp_path / "in.csv", delimiter, encoding, newline)
    out = tmp_path / "out.csv"
    result = extract(src, bordeaux, out, referential=ref)
    assert result.profile.delimiter == delimiter
    assert result.profile.code_column == "code_insee"
    header, rows = read_csv_rows(out)
    assert header == HEADER
    assert [r[0] for r in rows] == expected_ids(bordeaux) == ["1", "2", "3", "7"]
    # Quoted delimiters, quotes and accents survive the trip.
    by_id = {r[0]: r for r in rows}
    assert by_id["2"][2] == "Mérignac; centre"
    assert by_id["3"][2] == 'ancien code "Caudéran"'
    assert by_id["7"][2] == 'Talence, "sud"'
    assert result.report.rows_read == len(ROWS)
    assert result.report.rows_kept == 4
    assert result.report.rows_remapped == 1  # 33110 is a former code of Bordeaux
    assert result.report.rows_unknown_code == 1
    assert result.report.unknown_codes == [("99999", 1)]


def test_chunk_boundaries_do_not_change_the_result(tmp_path, ref, bordeaux):
    from ckanext.dataclic.extract.codes import CodeClassifier
    from ckanext.dataclic.extract.csvscan import filter_csv_by_code
    from ckanext.dataclic.extract.report import ExtractionReport
    from ckanext.dataclic.extract.sniff import read_csv_layout

    src = write_csv(tmp_path / "in.csv", ";", "utf-8", "\r\n", rows=ROWS * 50)
    layout = read_csv_layout(src)
    results = []
    for chunk in (7, 64, 333, 1 << 20):
        report = ExtractionReport()
        classifier = CodeClassifier(ref, bordeaux.codes, bordeaux.communes)
        kept = [rec for part in filter_csv_by_code(
            src, data_offset=layout.data_offset, delimiter=";", code_index=1, header_width=5,
            code_slice=None, classifier=classifier, report=report, chunk_bytes=chunk,
        ) for rec in part.records]
        results.append((kept, report.rows_read, report.rows_unknown_code))
    assert all(r == results[0] for r in results)
    assert results[0][1] == len(ROWS) * 50
    parsed = list(csv.reader(io.StringIO(b"".join(results[0][0]).decode()), delimiter=";"))
    assert [r[0] for r in parsed] == expected_ids(bordeaux) * 50


def test_codes_that_lost_their_leading_zero_are_padded(tmp_path, ref):
    ain = ref.resolve("departement:01")
    src = tmp_path / "ain.csv"
    src.write_text("codgeo,valeur\n1053,a\n01004,b\n1001,c\n33063,d\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = extract(src, ain, out, referential=ref, enrich=True)
    header, rows = read_csv_rows(out)
    assert [r[1] for r in rows] == ["a", "b", "c"]
    assert header[-6:] == ["commune_code", "commune_name", "epci_siren", "epci_name",
                           "departement_code", "region_code"]
    assert [r[2] for r in rows] == ["01053", "01004", "01001"]
    assert rows[0][3] == "Bourg-en-Bresse"
    assert result.report.rows_kept == 3


def test_enrichment_maps_a_former_code_to_todays_commune(tmp_path, ref, bordeaux):
    src = write_csv(tmp_path / "in.csv", ";", "utf-8", "\n")
    out = tmp_path / "out.csv"
    extract(src, bordeaux, out, referential=ref, enrich=True, delimiter=",")
    header, rows = read_csv_rows(out, ",")
    row = {r[0]: dict(zip(header, r, strict=True)) for r in rows}["3"]
    assert row["code_insee"] == "33110"
    assert row["commune_code"] == "33063"
    assert row["commune_name"] == "Bordeaux"
    assert row["epci_siren"] == "243300316"
    assert row["departement_code"] == "33"


def test_corsica_and_paris_arrondissements(tmp_path, ref):
    src = tmp_path / "in.csv"
    src.write_text("code_commune;n\n2A004;1\n75101;2\n75056;3\n2B033;4\n", encoding="utf-8")
    corse = ref.resolve("departement:2A")
    out = tmp_path / "out.csv"
    extract(src, corse, out, referential=ref)
    assert [r[1] for r in read_csv_rows(out)[1]] == ["1"]
    paris = ref.resolve("commune:75056")
    extract(src, paris, out, referential=ref)
    assert [r[1] for r in read_csv_rows(out)[1]] == ["2", "3"]


def test_header_one_field_short_or_long_is_reported(tmp_path, ref, bordeaux):
    short = tmp_path / "short.csv"
    short.write_text("code_insee;nom\n33063;Bordeaux;x\n33281;Mérignac;y\n", encoding="utf-8")
    result = extract(short, bordeaux, tmp_path / "o1.csv", referential=ref)
    assert result.report.rows_kept == 2
    assert result.report.rows_field_count_mismatch == 2
    assert any("header has 2 fields" in w for w in result.report.warnings)
    long = tmp_path / "long.csv"
    long.write_text("code_insee;nom;extra\n33063;Bordeaux\n33281;Mérignac\n", encoding="utf-8")
    result = extract(long, bordeaux, tmp_path / "o2.geojson", referential=ref)
    assert result.report.rows_kept == 2
    assert result.report.rows_field_count_mismatch == 2
    features = json.loads((tmp_path / "o2.geojson").read_text())["features"]
    assert features[0]["properties"] == {"code_insee": "33063", "nom": "Bordeaux", "extra": ""}


def test_latin1_input_gives_utf8_output(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    src.write_bytes("code_insee;nom\n33063;Bègles é\n".encode("latin-1"))
    result = extract(src, bordeaux, tmp_path / "o.csv", referential=ref)
    assert result.profile.encoding == "latin-1"
    assert (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()[1] == "33063;Bègles é"


def test_unknown_codes_are_ranked(tmp_path, ref, bordeaux):
    src = tmp_path / "in.csv"
    lines = ["code_insee;v"] + ["33063;a"] * 3 + ["00000;b"] * 4 + ["12;c"] * 2 + [";d"]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = extract(src, bordeaux, tmp_path / "o.csv", referential=ref,
                     overrides=ProfileOverrides(code_column="code_insee"))
    assert result.report.rows_unknown_code == 7
    assert result.report.unknown_codes == [("00000", 4), ("12", 2), ("", 1)]


def test_decimal_commas_in_coordinates(tmp_path, ref, bordeaux):
    src = write_csv(tmp_path / "in.csv", ";", "utf-8", "\n",
                    header=["id", "ref", "libelle", "latitude", "longitude"])
    profile = detect_profile(src, ref)
    assert profile.geometry == "latlon"
    out = tmp_path / "o.geojson"
    result = extract(src, bordeaux, out, referential=ref, mode="intersects")
    kept = [f["properties"]["id"] for f in json.loads(out.read_text())["features"]]
    assert kept == ["1", "2", "3", "7"]
    assert result.report.rows_without_geometry == 0


def test_missing_column_override_is_a_clear_error(tmp_path, ref, bordeaux):
    src = write_csv(tmp_path / "in.csv", ";", "utf-8", "\n")
    with pytest.raises(ExtractionError, match="No column named 'nope'"):
        extract(src, bordeaux, tmp_path / "o.csv", referential=ref,
                overrides=ProfileOverrides(code_column="nope"))
    assert list(tmp_path.iterdir()) == [src]
