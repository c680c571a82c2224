"""The Lucene-syntax parser and the date maths, without a database."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ckanext.dataclic.pgsearch import lucene
from ckanext.dataclic.pgsearch.compiler import QueryCompiler, parse_solr_date
from ckanext.dataclic.pgsearch.lucene import Bool, Exists, MatchAll, Occur, Range, Term


def occurs(node: lucene.Node) -> list[tuple[str, object]]:
    assert isinstance(node, Bool)
    return [(occur.value, child) for occur, child in node.clauses]


def test_ckan_filter_query_is_all_required_clauses():
    node = lucene.parse('+capacity:public +site_id:"default" +state:(active OR draft)')
    clauses = occurs(node)
    assert clauses[0] == ("must", Term("capacity", "public"))
    assert clauses[1] == ("must", Term("site_id", "default", "phrase"))
    assert clauses[2][0] == "must"
    assert occurs(clauses[2][1]) == [
        ("should", Term("state", "active")),
        ("should", Term("state", "draft")),
    ]


def test_default_operator_and_or_explicit_or():
    assert [o for o, _ in occurs(lucene.parse("eau air"))] == ["must", "must"]
    assert [o for o, _ in occurs(lucene.parse("eau air", default_and=False))] == [
        "should",
        "should",
    ]
    assert [o for o, _ in occurs(lucene.parse("eau OR air"))] == ["should", "should"]


def test_negation_forms():
    for query in ("-tags:x", "NOT tags:x", "!tags:x"):
        assert occurs(lucene.parse(query)) == [("must_not", Term("tags", "x"))]


def test_ranges_wildcards_and_existence():
    node = lucene.parse("metadata_modified:[NOW-7DAYS/DAY TO *] res_format:* *:* name:eau*")
    clauses = [child for _, child in occurs(node)]
    assert clauses[0] == Range("metadata_modified", "NOW-7DAYS/DAY", None, True, True)
    assert clauses[1] == Exists("res_format")
    assert clauses[2] == MatchAll()
    assert clauses[3] == Term("name", "eau", "prefix")
    assert lucene.parse("num:{1 TO 5]") == Bool(
        ((Occur.MUST, Range("num", "1", "5", False, True)),)
    )


def test_escapes_boosts_and_spaces_around_colon():
    node = lucene.parse(r"title:eau\:potable^2 tags : x~1")
    assert [child for _, child in occurs(node)] == [
        Term("title", "eau:potable"),
        Term("tags", "x"),
    ]


@pytest.mark.parametrize(
    "query",
    [
        "(eau",
        "eau)",
        '"eau',
        'title:"eau',
        "eau\\",
        "metadata_modified:[2020 TO",
        "num:[1 2]",
        "--included",
        "AND eau",
        "eau OR",
        "title:",
        "fo'o:bar",
        "{!knn f=vector}[1,2]",
        "{!lucene unterminated",
    ],
)
def test_malformed_queries_raise_a_clear_error(query):
    with pytest.raises(lucene.QuerySyntaxError) as error:
        lucene.parse(query)
    assert str(error.value)


def test_local_params_bool_and_q_op():
    node = lucene.parse("{!bool must=bees must_not=wasps}")
    assert occurs(node) == [
        ("must", Bool(((Occur.MUST, Term(None, "bees")),), implicit_only=True)),
        ("must_not", Bool(((Occur.MUST, Term(None, "wasps")),), implicit_only=True)),
    ]
    node = lucene.parse("{!lucene q.op=OR}bees butterflies")
    assert [o for o, _ in occurs(node)] == ["should", "should"]
    assert lucene.parse("{!tag=org}organization:x") == Bool(
        ((Occur.MUST, Term("organization", "x")),), implicit_only=True
    )


@pytest.mark.parametrize(
    ("spec", "clauses", "expected"),
    [("2<-1 5<80%", 2, 2), ("2<-1 5<80%", 3, 2), ("2<-1 5<80%", 5, 4),
     ("2<-1 5<80%", 10, 8), ("1", 4, 1), ("75%", 4, 3), ("-1", 3, 2), (None, 3, 3)],
)
def test_minimum_match(spec, clauses, expected):
    assert lucene.minimum_match(spec, clauses) == expected


def test_solr_date_math():
    now = datetime(2024, 3, 15, 13, 45, 10, tzinfo=timezone.utc)
    assert parse_solr_date("NOW", now) == now
    assert parse_solr_date("NOW/DAY", now) == datetime(2024, 3, 15, tzinfo=timezone.utc)
    assert parse_solr_date("NOW-1MONTH/DAY", now) == datetime(2024, 2, 15, tzinfo=timezone.utc)
    assert parse_solr_date("NOW+2HOURS", now) == datetime(
        2024, 3, 15, 15, 45, 10, tzinfo=timezone.utc
    )
    assert parse_solr_date("2020-01-01T00:00:00Z") == datetime(2020, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(lucene.QuerySyntaxError):
        parse_solr_date("yesterday")


def test_user_text_only_travels_as_bound_parameters():
    hostile = "'; DROP TABLE package; --"
    compiler = QueryCompiler()
    sql = compiler.compile(lucene.parse(f'title:"{hostile}" OR tags:"{hostile}"'), rank=True)
    assert "DROP" not in sql
    assert hostile in compiler.params.values() or any(
        hostile in str(value) for value in compiler.params.values()
    )
