"""CSV pages joined as they come (data-fair's ``format=csv`` paging): one header, every row,
counts that respect quoted newlines, and clear errors. Plain Python, no CKAN."""

from __future__ import annotations

import csv
import io

import pytest

from ckanext.dataclic.harvesters.metered import CsvPages, csv_records, next_link
from ckanext.dataclic.remote import RemoteError

ROWS = [{"numero": "1", "commune": "33063", "adresse": "12, rue \"Sainte\"\nCatherine"},
        {"numero": "2", "commune": "33281", "adresse": "place de la Victoire"},
        {"numero": "3", "commune": "33069", "adresse": ""}]


def page(rows, bom=False, crlf=False):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(ROWS[0]),
                            lineterminator="\r\n" if crlf else "\n")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def test_pages_are_joined_under_one_header_and_every_row_is_counted(tmp_path):
    path = tmp_path / "joined.csv"
    joined = CsvPages(path, 1 << 20, "http://127.0.0.1/lines")
    counts = [joined.add(page(ROWS[:1], bom=True), "p1"), joined.add(page(ROWS[1:], crlf=True),
                                                                     "p2"),
              joined.add(page([]), "p3"), joined.add(b"", "p4")]
    joined.close()
    assert counts == [1, 2, 0, 0]
    assert joined.rows == 3 and joined.columns == ["numero", "commune", "adresse"]
    with open(path, encoding="utf-8", newline="") as stream:
        assert list(csv.DictReader(stream)) == ROWS


def test_a_page_with_other_columns_a_json_answer_and_the_cap_are_errors(tmp_path):
    joined = CsvPages(tmp_path / "a.csv", 1 << 20, "src")
    joined.add(page(ROWS), "p1")
    with pytest.raises(RemoteError, match="other columns"):
        joined.add(b"numero,commune\n4,33063\n", "p2")
    with pytest.raises(RemoteError, match="JSON"):
        CsvPages(tmp_path / "b.csv", 1 << 20, "src").add(b'{"results": []}', "p1")
    small = CsvPages(tmp_path / "c.csv", 40, "src")
    with pytest.raises(RemoteError, match="40 byte cap"):
        small.add(page(ROWS), "p1")


@pytest.mark.parametrize(("text", "expected"), [
    (b"a,b\n1,2\n", 2),
    (b'1,"x\ny"\n2,""""\n3,"a,""\nb"\n', 3),
])
def test_csv_records_counts_rows_not_lines(text, expected):
    assert csv_records(text) == expected == len(list(csv.reader(io.StringIO(text.decode()))))


def test_next_link_reads_the_link_header():
    url = "http://127.0.0.1/lines?code_in=33063,33281&after=12"
    assert next_link(f'<{url}>; rel="next"') == url
    assert next_link(f'<http://x/prev>; rel="prev", <{url}>; rel=next') == url
    assert next_link('<http://x/prev>; rel="prev"') is None
    assert next_link("") is None


def test_json_records_of_changing_shape_make_one_csv_with_every_column(tmp_path):
    from ckanext.dataclic.harvesters.metered import CsvSpool, staged_csv

    spool = CsvSpool(tmp_path, 1 << 20, "src")
    spool.add([{"code": "33063", "n": 1, "tags": ["a", "b"]},
               {"code": "33281", "n": None, "tags": []}])
    spool.add([{"code": "33069", "n": 2.5, "tags": ["c"]},
               {"code": "33119", "extra": {"k": "v"}, "n": True}])  # another shape mid-page
    staged = staged_csv(tmp_path, spool, "server-filter", "test")
    with open(staged.path, encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows == [["code", "n", "tags", "extra"],
                    ["33063", "1", "a|b", ""],
                    ["33281", "", "", ""],
                    ["33069", "2.5", "c", ""],
                    ["33119", "True", "", '{"k":"v"}']]
    assert staged.rows == 4
    with pytest.raises(RemoteError, match="not a JSON object"):
        CsvSpool(tmp_path, 1 << 20, "src").add([{"a": 1}, [1, 2]])
    with pytest.raises(RemoteError, match="30 byte cap"):
        CsvSpool(tmp_path, 30, "src").add([{"a": "x" * 20}, {"a": "y" * 20}])
