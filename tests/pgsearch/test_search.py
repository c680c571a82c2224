"""Dataset search through CKAN's real code paths, answered by the PostgreSQL stand-in."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from ckan import model
from ckan.tests import factories, helpers

from ckanext.dataclic.pgsearch.store import TABLE

pytestmark = [
    pytest.mark.usefixtures("clean_db", "clean_index"),
    pytest.mark.ckan_config("ckan.auth.create_unowned_dataset", True),
]

FACETS = ["organization", "groups", "tags", "res_format", "license_id"]


def search(**params):
    return helpers.call_action("package_search", **params)


def names(result) -> list[str]:
    return [d["name"] for d in result["results"]]


@pytest.fixture
def catalogue():
    """A small French catalogue: two organisations, a group, tags, formats, licences."""
    dreal = factories.Organization(name="dreal", title="DREAL Nouvelle-Aquitaine")
    ofb = factories.Organization(name="ofb", title="Office français de la biodiversité")
    eau = factories.Group(name="eau", title="Eau")
    datasets = {
        "zones-humides": factories.Dataset(
            name="zones-humides",
            title="Biodiversité des zones humides",
            notes="Inventaire des zones humides de Gironde.",
            owner_org=ofb["id"],
            groups=[{"name": eau["name"]}],
            tags=[{"name": "biodiversité"}, {"name": "eau"}],
            license_id="odc-odbl",
            resources=[{"url": "http://127.0.0.1/zh.csv", "format": "CSV"}],
        ),
        "ppri": factories.Dataset(
            name="ppri",
            title="Plan de prévention du risque inondation",
            notes="Zonage réglementaire des inondations par débordement.",
            owner_org=dreal["id"],
            groups=[{"name": eau["name"]}],
            tags=[{"name": "risques"}, {"name": "eau"}],
            license_id="cc-by",
            resources=[
                {"url": "http://127.0.0.1/ppri.zip", "format": "SHP"},
                {"url": "http://127.0.0.1/ppri.csv", "format": "CSV"},
            ],
        ),
        "rivers": factories.Dataset(
            name="rivers",
            title="River water quality",
            notes="Monitoring stations on rivers.",
            owner_org=dreal["id"],
            tags=[{"name": "water"}],
            license_id="cc-by",
            extras=[{"key": "frequency", "value": "monthly"}],
        ),
    }
    return datasets


def test_free_text_ignores_accents_case_and_word_forms(catalogue):
    assert names(search(q="biodiversite")) == ["zones-humides"]
    assert names(search(q="BIODIVERSITÉ")) == ["zones-humides"]
    assert names(search(q="inondations")) == ["ppri"]
    assert names(search(q="river")) == ["rivers"]
    assert names(search(q="zone humide")) == ["zones-humides"]
    assert search(q="volcan")["count"] == 0


def test_relevance_puts_title_matches_first(catalogue):
    factories.Dataset(name="notes-only", notes="Une simple mention de la biodiversité.")
    result = search(q="biodiversite", sort="score desc, metadata_modified desc")
    assert names(result) == ["zones-humides", "notes-only"]


def test_fielded_queries_and_phrases(catalogue):
    assert names(search(q="name:ppri")) == ["ppri"]
    assert names(search(q='tags:"biodiversité"')) == ["zones-humides"]
    assert names(search(q='title:"zones humides"')) == ["zones-humides"]
    assert names(search(q="title:inondation")) == ["ppri"]
    assert names(search(q="frequency:monthly")) == ["rivers"]
    assert sorted(names(search(q="*:*"))) == ["ppri", "rivers", "zones-humides"]
    assert names(search(q="name:zones*")) == ["zones-humides"]


def test_filter_query_syntax(catalogue):
    def fq(expr: str) -> list[str]:
        return sorted(names(search(fq=expr)))

    assert fq("+organization:dreal") == ["ppri", "rivers"]
    assert fq('organization:"dreal" -tags:water') == ["ppri"]
    assert fq("tags:(water OR risques)") == ["ppri", "rivers"]
    assert fq("res_format:CSV AND NOT license_id:cc-by") == ["zones-humides"]
    # package_search glues "+capacity:public " in front of fq: a top-level OR next to
    # required clauses is optional in Lucene, so parenthesise it, as with Solr.
    assert fq("((groups:eau AND tags:risques) OR name:rivers)") == ["ppri", "rivers"]
    assert fq("num_resources:[2 TO *]") == ["ppri"]
    assert fq("num_resources:{0 TO 2}") == ["zones-humides"]
    assert fq("metadata_modified:[NOW-1DAY TO NOW]") == ["ppri", "rivers", "zones-humides"]
    assert fq("metadata_created:[* TO 2000-01-01T00:00:00Z]") == []
    assert fq("groups:*") == ["ppri", "zones-humides"]
    assert fq("-groups:[* TO *]") == ["rivers"]
    assert fq("+dataset_type:dataset +capacity:public") == ["ppri", "rivers", "zones-humides"]
    assert fq("no_such_field:x") == []


def test_facets_counts_limits_and_mincount(catalogue):
    result = search(**{"facet.field": FACETS})
    facets = {key: {i["name"]: i["count"] for i in v["items"]}
              for key, v in result["search_facets"].items()}
    assert facets["organization"] == {"dreal": 2, "ofb": 1}
    assert facets["groups"] == {"eau": 2}
    assert facets["tags"] == {"eau": 2, "biodiversité": 1, "risques": 1, "water": 1}
    assert facets["res_format"] == {"CSV": 2, "SHP": 1}
    assert facets["license_id"] == {"cc-by": 2, "odc-odbl": 1}
    titles = {i["name"]: i["display_name"]
              for i in result["search_facets"]["organization"]["items"]}
    assert titles["dreal"] == "DREAL Nouvelle-Aquitaine"

    limited = search(**{"facet.field": ["tags"], "facet.limit": 1})
    assert [i["name"] for i in limited["search_facets"]["tags"]["items"]] == ["eau"]
    filtered = search(q="inondation", **{"facet.field": ["tags"]})
    assert {i["name"] for i in filtered["search_facets"]["tags"]["items"]} == {"eau", "risques"}
    mincount = search(**{"facet.field": ["tags"], "facet.mincount": 2})
    assert [i["name"] for i in mincount["search_facets"]["tags"]["items"]] == ["eau"]


def test_sorting_paging_and_field_lists(catalogue):
    assert names(search(sort="name asc")) == ["ppri", "rivers", "zones-humides"]
    assert names(search(sort="name desc")) == ["zones-humides", "rivers", "ppri"]
    # Titles sort without regard to case or accents: B, P, R.
    assert names(search(sort="title_string asc")) == ["zones-humides", "ppri", "rivers"]
    assert names(search(sort="metadata_created desc")) == ["rivers", "ppri", "zones-humides"]
    assert names(search(sort="num_resources desc, name asc")) == [
        "ppri", "zones-humides", "rivers"
    ]
    page = search(sort="name asc", rows=1, start=1)
    assert page["count"] == 3
    assert names(page) == ["rivers"]
    assert search(sort="name asc", rows=2, start=5)["results"] == []
    assert search(q="name:ppri", fl=["name", "title"])["results"] == [
        {"name": "ppri", "title": "Plan de prévention du risque inondation"}
    ]
    full = search(q="name:rivers")["results"][0]
    assert full["extras"] == [{"key": "frequency", "value": "monthly"}]
    assert full["organization"]["name"] == "dreal"


def test_update_and_delete_reach_the_index(catalogue):
    helpers.call_action("package_patch", id="rivers", title="Qualité des cours d'eau")
    assert names(search(q="qualite cours")) == ["rivers"]
    assert search(q="title:river")["count"] == 0
    helpers.call_action("package_delete", id="rivers")
    assert search(q="qualite")["count"] == 0
    assert names(search(q="qualite", include_deleted=True, fq="+state:deleted")) == []


def test_table_is_recreated_after_being_dropped():
    # clean_db drops every table of the database, ours included.
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
    factories.Dataset(name="after-drop", title="Recréée")
    assert names(search(q="recreee")) == ["after-drop"]


def test_dismax_minimum_match_for_longer_queries(catalogue):
    # CKAN's default mm "2<-1 5<80%": with three words, two are enough.
    assert names(search(q="inondation zonage volcan")) == ["ppri"]
    assert search(q="inondation volcan")["count"] == 0
