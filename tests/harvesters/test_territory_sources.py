"""Harvest sources for a territory in one decision: `ckan dataclic sources add-territory` and
the sysadmins' page /ckan-admin/dataclic/territory-sources."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ckanext.dataclic.harvesters.cli import sources

from .conftest import harvest_marks

pytestmark = harvest_marks

CATALOGUE = (Path(__file__).resolve().parents[2] / "ckanext" / "dataclic" / "harvesters"
             / "catalogue.json")
PAGE = "/ckan-admin/dataclic/territory-sources"
BORDEAUX_METROPOLE = "epci:243300316"


def catalogue() -> list[dict]:
    """The shipped catalogue, read as plain JSON (not through the code under test)."""
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))["sources"]


def harvest_sources() -> list[dict]:
    """Every active harvest source, with its config parsed."""
    from ckan import model
    from ckanext.harvest.model import HarvestSource

    model.Session.remove()
    rows = model.Session.query(HarvestSource).filter(HarvestSource.active.is_(True)).all()
    return [{"id": r.id, "name": model.Package.get(r.id).name, "url": r.url, "type": r.type,
             "title": r.title, "frequency": r.frequency,
             "owner_org": model.Package.get(r.id).owner_org,
             "config": json.loads(r.config or "{}")} for r in rows]


def test_add_territory_creates_the_theme_sources_with_the_perimeter_once(cli, org):
    water = [e for e in catalogue() if e["theme"] == "water"]
    assert len(water) >= 2
    args = ["add-territory", "--perimeter", BORDEAUX_METROPOLE, "--theme", "water",
            "--org", org["name"], "--frequency", "weekly"]
    first = cli.invoke(sources, args)
    assert first.exit_code == 0, first.output
    created = harvest_sources()
    assert sorted((s["url"], s["type"]) for s in created) == sorted(
        (e["url"], e["harvester"]) for e in water)
    for source in created:
        assert source["config"]["perimeter"] == BORDEAUX_METROPOLE
        assert source["config"]["theme"] == "water"
        assert source["frequency"] == "WEEKLY" and source["owner_org"] == org["id"]
        assert source["title"].endswith("Bordeaux Métropole")
        assert source["name"] in first.output
    # The catalogue's own config is kept beside the territorial keys.
    for source in created:
        (entry,) = [e for e in water if source["name"].startswith(e["name"] + "-")]
        assert all(source["config"][k] == v for k, v in entry["config"].items()), source

    again = cli.invoke(sources, args)
    assert again.exit_code == 0, again.output
    assert len(harvest_sources()) == len(water)
    assert f"0 created, {len(water)} already there" in again.output

    # Another theme for the same territory adds only its own sources.
    air = [e for e in catalogue() if e["theme"] == "air"]
    more = cli.invoke(sources, ["add-territory", "--perimeter", BORDEAUX_METROPOLE,
                                "--theme", "air", "--theme", "water", "--org", org["name"]])
    assert more.exit_code == 0, more.output
    assert len(harvest_sources()) == len(water) + len(air)


@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", "commune:33063")
def test_add_territory_defaults_to_the_portal_territory(cli, org):
    entry = next(e for e in catalogue() if e["harvester"] == "dataclic_georisques")
    result = cli.invoke(sources, ["add-territory", "--source", entry["name"],
                                  "--org", org["name"]])
    assert result.exit_code == 0, result.output
    (source,) = harvest_sources()
    assert source["config"]["perimeter"] == "commune:33063"
    assert source["frequency"] == "MONTHLY"
    assert "Bordeaux" in source["title"]


def test_add_territory_refuses_an_unknown_territory_clearly(cli, org):
    result = cli.invoke(sources, ["add-territory", "--perimeter", "epci:999999999",
                                  "--theme", "water", "--org", org["name"]])
    assert result.exit_code != 0
    assert "Unknown territory" in result.output and "epci:999999999" in result.output
    assert "Traceback" not in result.output
    assert harvest_sources() == []
    no_default = cli.invoke(sources, ["add-territory", "--theme", "water"])
    assert no_default.exit_code != 0
    assert "ckanext.dataclic.default_perimeter" in no_default.output
    assert harvest_sources() == []


class Page(HTMLParser):
    """Rows of the page's tables (data-source → method) and its checkboxes."""

    def __init__(self) -> None:
        super().__init__()
        self.methods: dict[str, str] = {}
        self.checkboxes: list[dict[str, str]] = []
        self.themes: list[str] = []
        self._row = ""

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and a.get("data-source"):
            self._row = a["data-source"]
        if tag == "td" and "data-method" in a and self._row:
            self.methods[self._row] = a["data-method"]
        if tag == "fieldset" and a.get("data-theme"):
            self.themes.append(a["data-theme"])
        if tag == "input" and a.get("type") == "checkbox":
            self.checkboxes.append(a)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BORDEAUX_METROPOLE)
def test_page_is_for_sysadmins_only(app):
    from ckan.tests import factories

    user = factories.UserWithToken()
    assert app.get(PAGE, status=403)
    assert app.get(PAGE, headers={"Authorization": user["token"]}, status=403)
    assert app.post(PAGE, data={"source": catalogue()[0]["name"]},
                    headers={"Authorization": user["token"]}, status=403)
    assert harvest_sources() == []


@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BORDEAUX_METROPOLE)
def test_page_shows_the_catalogue_by_theme_with_the_method(app):
    from ckan.tests import factories

    sysadmin = factories.SysadminWithToken()
    html = app.get(PAGE, headers={"Authorization": sysadmin["token"]}).get_data(as_text=True)
    page = parse(html)
    entries = catalogue()
    assert sorted(page.themes) == sorted({e["theme"] for e in entries})
    # udata sources are files cut locally; the other APIs filter on the server.
    assert page.methods == {e["name"]: ("local-cut" if e["harvester"] == "dataclic_udata"
                                        else "server-filter") for e in entries}
    assert "Bordeaux Métropole" in html
    # Linked from the admin area.
    admin = app.get("/ckan-admin", headers={"Authorization": sysadmin["token"]})
    assert PAGE in admin.get_data(as_text=True)


@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BORDEAUX_METROPOLE)
def test_page_creates_the_ticked_sources_and_a_whole_theme(app, org):
    from ckan.tests import factories

    sysadmin = factories.SysadminWithToken()
    headers = {"Authorization": sysadmin["token"]}
    entries = catalogue()
    one = next(e for e in entries if e["harvester"] == "dataclic_datafair")
    theme = "biodiversity"
    posted = app.post(PAGE, headers=headers, data={
        "perimeter": BORDEAUX_METROPOLE, "source": [one["name"]], "theme": [theme],
        "owner_org": org["name"], "frequency": "DAILY"})
    assert posted.status_code == 200
    expected = [e for e in entries if e["theme"] == theme or e["name"] == one["name"]]
    created = harvest_sources()
    assert len(created) == len(expected)
    assert all(s["config"]["perimeter"] == BORDEAUX_METROPOLE for s in created)
    assert all(s["frequency"] == "DAILY" and s["owner_org"] == org["id"] for s in created)
    assert sorted(s["config"]["theme"] for s in created) == sorted(e["theme"] for e in expected)
    body = posted.get_data(as_text=True)
    assert body.count("dataclic-outcome-created") == len(expected)
    # The page now shows them as created; posting again creates nothing more.
    again = app.post(PAGE, headers=headers, data={
        "perimeter": BORDEAUX_METROPOLE, "theme": [theme], "owner_org": org["name"]})
    assert again.status_code == 200
    assert again.get_data(as_text=True).count("dataclic-outcome-exists") == len(
        [e for e in entries if e["theme"] == theme])
    assert len(harvest_sources()) == len(expected)
    disabled = [c for c in parse(again.get_data(as_text=True)).checkboxes
                if c.get("name") == "source" and "disabled" in c]
    assert sorted(c["value"] for c in disabled) == sorted(e["name"] for e in expected)


def test_page_refuses_an_unknown_territory_in_french(app, org):
    from ckan.tests import factories

    sysadmin = factories.SysadminWithToken()
    posted = app.post("/fr" + PAGE, headers={"Authorization": sysadmin["token"]}, data={
        "perimeter": "commune:00000", "theme": ["water"], "owner_org": org["name"]})
    assert posted.status_code == 400
    body = posted.get_data(as_text=True)
    assert "Territoire inconnu" in body and "commune:00000" in body
    assert harvest_sources() == []
    nothing = app.post(PAGE, headers={"Authorization": sysadmin["token"]}, data={
        "perimeter": BORDEAUX_METROPOLE, "owner_org": org["name"]})
    assert nothing.status_code == 400
    assert "Tick at least one source" in nothing.get_data(as_text=True)


@pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BORDEAUX_METROPOLE)
def test_page_works_for_another_territory(app, org):
    from ckan.tests import factories

    sysadmin = factories.SysadminWithToken()
    headers = {"Authorization": sysadmin["token"]}
    page = app.get(PAGE, headers=headers, query_string={"perimeter": "commune:33063"})
    body = page.get_data(as_text=True)
    assert "Sources for Bordeaux" in body and "Sources for Bordeaux Métropole" not in body
    assert 'name="perimeter" value="commune:33063"' in body
    entry = next(e for e in catalogue() if e["theme"] == "air")
    app.post(PAGE, headers=headers, data={"perimeter": "commune:33063", "source": entry["name"],
                                          "owner_org": org["name"]})
    app.post(PAGE, headers=headers, data={"source": entry["name"], "owner_org": org["name"]})
    # One source per territory: the commune's and the portal's.
    assert sorted(s["config"]["perimeter"] for s in harvest_sources()) == [
        "commune:33063", BORDEAUX_METROPOLE]
    bad = app.get(PAGE, headers=headers, query_string={"perimeter": "region:99"}, status=400)
    assert "Unknown territory" in bad.get_data(as_text=True)
