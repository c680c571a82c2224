"""The home page of a territorial portal: "Data for <territory>" by theme, with its map."""
from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import pytest
from ckan.tests import factories

BORDEAUX_METROPOLE = "epci:243300316"


class Home(HTMLParser):
    """Theme columns of the block (data-theme → dataset names, heading text) and the map."""

    def __init__(self) -> None:
        super().__init__()
        self.themes: dict[str, list[str]] = {}
        self.headings: dict[str, str] = {}
        self.paths: list[str] = []
        self.viewbox = ""
        self._theme = ""
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if "data-theme" in a and "dataclic-home-theme" in a.get("class", ""):
            self._theme = a["data-theme"]
            self.themes[self._theme] = []
            self.headings[self._theme] = ""
        if tag == "h3" and self._theme:
            self._in_heading = True
        if tag == "li" and a.get("data-dataset") and self._theme:
            self.themes[self._theme].append(a["data-dataset"])
        if tag == "svg" and self._theme == "":
            self.viewbox = a.get("viewbox", "")
        if tag == "path" and "dataclic-map-perimeter" in a.get("class", ""):
            self.paths.append(a.get("d", ""))

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in_heading = False

    def handle_data(self, data):
        if self._in_heading and self._theme:
            self.headings[self._theme] += data


def parse(html: str) -> Home:
    page = Home()
    page.feed(html)
    return page


def dataset(org: dict, name: str, perimeter: str, theme: str | None = None) -> dict:
    extras = [{"key": "dataclic_perimeter", "value": perimeter}]
    if theme:
        extras.append({"key": "dataclic_theme", "value": theme})
    return factories.Dataset(name=name, title=name.replace("-", " ").title(),
                             owner_org=org["id"], extras=extras)


@pytest.mark.usefixtures("clean_db", "clean_index", "with_plugins", "territory_tables")
class TestHomeBlock:
    @pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BORDEAUX_METROPOLE)
    def test_the_territory_datasets_are_listed_by_theme(self, app):
        org = factories.Organization()
        made = [
            dataset(org, "znieff-bm", BORDEAUX_METROPOLE, "biodiversity"),
            dataset(org, "natura-bm", BORDEAUX_METROPOLE, "biodiversity"),
            dataset(org, "piezometres-bm", BORDEAUX_METROPOLE, "water"),
            dataset(org, "population-bm", BORDEAUX_METROPOLE),            # no theme
            dataset(org, "odd-theme-bm", BORDEAUX_METROPOLE, "astrology"),  # unknown theme
            dataset(org, "znieff-gironde", "departement:33", "biodiversity"),
            dataset(org, "znieff-bordeaux", "commune:33063", "biodiversity"),
        ]
        factories.Dataset(name="no-territory", owner_org=org["id"])
        expected: dict[str, list[str]] = {}
        for pkg in made:
            extras = {e["key"]: e["value"] for e in pkg["extras"]}
            if extras["dataclic_perimeter"] != BORDEAUX_METROPOLE:
                continue
            theme = extras.get("dataclic_theme")
            theme = theme if theme in ("biodiversity", "water") else "other"
            expected.setdefault(theme, []).append(pkg["name"])

        home = parse(app.get("/fr/").body)
        assert {t: sorted(names) for t, names in home.themes.items()} == {
            t: sorted(names) for t, names in expected.items()}
        # Catalogue order, "other" last; French headings.
        assert list(home.themes) == ["biodiversity", "water", "other"]
        assert home.headings["biodiversity"].strip().startswith("Biodiversité")
        assert home.headings["other"].strip().startswith("Autres données")

    @pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", BORDEAUX_METROPOLE)
    def test_the_page_shows_the_territory_not_the_ckan_placeholder(self, app):
        html = app.get("/fr/").body
        assert "Données pour Bordeaux Métropole" in html
        assert "Bienvenue sur CKAN" not in html and "placeholder-420x220" not in html
        assert "Aucun jeu de données pour Bordeaux Métropole pour l'instant." in html
        home = parse(html)
        (outline,) = home.paths
        # Bordeaux Métropole is one block of 28 communes: one outer ring (maybe a few holes),
        # many vertices, all inside the 240 × 160 view box.
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", outline)]
        xs, ys = numbers[0::2], numbers[1::2]
        assert len(xs) > 50
        assert 0 <= min(xs) and max(xs) <= 240 and 0 <= min(ys) and max(ys) <= 160
        # Fitted: the outline fills the box on at least one axis (8 px margins).
        assert max(xs) - min(xs) > 200 or max(ys) - min(ys) > 140
        # Its proportions are the territory's, east-west shortened by cos(latitude).
        from ckanext.dataclic.territories import Referential

        west, south, east, north = Referential.default().resolve(BORDEAUX_METROPOLE).geometry.bounds
        expected = (east - west) * math.cos(math.radians((south + north) / 2)) / (north - south)
        assert (max(xs) - min(xs)) / (max(ys) - min(ys)) == pytest.approx(expected, rel=0.05)

    def test_without_a_home_territory_the_page_is_ckans(self, app):
        html = app.get("/").body
        assert "dataclic-home-data" not in html
