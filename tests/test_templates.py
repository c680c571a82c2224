"""The "Extract for a territory" panel and the provenance box, rendered by the real CKAN app."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import ckan.plugins.toolkit as tk
import pytest
from ckan import model
from ckan.tests import factories
from flask_login import login_user

from ckanext.dataclic import helpers

PANEL = {
    "resource_id": "",
    "geometric": True,
    "formats": [{"value": "csv", "label": "CSV"}, {"value": "geojson", "label": "GeoJSON"}],
    "modes": [
        {"value": "filter", "label": "Filter by commune code"},
        {"value": "clip", "label": "Features clipped to the territory"},
    ],
    "crs": [{"value": "EPSG:4326", "label": "WGS 84 (EPSG:4326)"}],
    "bounds": [-1.3, 44.2, 0.3, 45.6],
    "departements": ["33"],
}


class Elements(HTMLParser):
    """Start tags of a page with their attributes, and the text of <label for=…>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.labels: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        self._label: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "select":
            self._select = attributes.get("id", "")
            self.options[self._select] = []
        if tag == "option" and self._select is not None:
            self.options[self._select].append(attributes.get("value", ""))
        if tag == "label" and attributes.get("for"):
            self._label = attributes["for"]
            self.labels[self._label] = ""

    def handle_endtag(self, tag):
        if tag == "label":
            self._label = None
        if tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._label:
            self.labels[self._label] += data.strip()

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        return [
            a for t, a in self.tags
            if (tag is None or t == tag)
            and all(v in a.get(k.rstrip("_").replace("_", "-"), "").split() for k, v in attrs.items())
        ]


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


@pytest.fixture()
def territory_tables(migrate_db_for):
    migrate_db_for("dataclic")


def render_panel(app, user=None, lang="en", panel=None, resource_id="0123456789abcdef"):
    environ = {"CKAN_LANG": lang, "CKAN_LANG_IS_DEFAULT": lang == "en"}
    with app.flask_app.test_request_context(environ_base=environ):
        if user is not None:
            login_user(model.User.get(user["name"]))
        return tk.render_snippet(
            "dataclic/snippets/extract_panel.html",
            {"res": {"id": resource_id}, "pkg": {}, "panel": dict(panel or PANEL)},
        )


@pytest.mark.usefixtures("clean_db", "with_plugins", "territory_tables")
class TestExtractPanel:
    def test_every_control_has_a_label(self, app):
        page = parse(render_panel(app))
        controls = page.find("input") + page.find("select")
        visible = [c for c in controls if c.get("type") not in ("hidden", "radio")]
        assert visible, "the panel shows no control"
        for control in visible:
            assert page.labels.get(control["id"]), f"control {control['id']} has no label"

    def test_territory_box_is_an_aria_combobox(self, app):
        page = parse(render_panel(app))
        (box,) = page.find("input", role="combobox")
        assert box["aria-autocomplete"] == "list" and box["aria-expanded"] == "false"
        (listbox,) = page.find("ul", role="listbox")
        assert box["aria-controls"] == listbox["id"]
        assert page.labels[box["id"]] == "Territory"
        # Progress and errors are announced to screen readers.
        assert page.find(role="status") and page.find(role="alert")
        (bar,) = page.find(role="progressbar")
        assert bar["aria-valuemin"] == "0" and bar["aria-valuemax"] == "100"

    def test_offers_only_the_profile_formats_and_modes(self, app):
        page = parse(render_panel(app))
        (fmt,) = page.find("select", class_="dataclic-format")
        assert page.options[fmt["id"]] == ["csv", "geojson"]
        (mode,) = page.find("select", class_="dataclic-mode")
        assert page.options[mode["id"]] == ["filter", "clip"]
        assert page.find("select", class_="dataclic-crs")

    def test_a_table_without_geometry_gets_no_crs_and_no_mode_choice(self, app):
        panel = dict(PANEL, geometric=False, formats=[{"value": "csv", "label": "CSV"}],
                     modes=[{"value": "filter", "label": "Filter by commune code"}])
        page = parse(render_panel(app, panel=panel))
        assert not page.find("select", class_="dataclic-crs")
        assert not page.find("select", class_="dataclic-mode")
        (mode,) = page.find("input", class_="dataclic-mode")
        assert mode["type"] == "hidden" and mode["value"] == "filter"

    def test_binds_the_js_module_with_the_resource(self, app):
        page = parse(render_panel(app, resource_id="f00dcafe-1234"))
        (section,) = page.find("section", class_="dataclic-extract")
        assert section["data-module"] == "dataclic-extract"
        assert section["data-module-resource-id"] == "f00dcafe-1234"
        assert json.loads(section["data-module-bounds"]) == PANEL["bounds"]
        assert json.loads(section["data-module-departements"]) == ["33"]

    def test_messages_for_the_script_are_valid_json(self, app):
        html = render_panel(app)
        blob = re.search(r'class="dataclic-strings">(.*?)</script>', html, re.DOTALL).group(1)
        strings = json.loads(blob)
        assert strings["no_result"] == "No territory found"
        # Plural forms for the script to pick with Intl.PluralRules.
        assert strings["preview"] == {"one": "≈ {count} row for {name}",
                                      "other": "≈ {count} rows for {name}"}

    def test_french_panel(self, app):
        html = render_panel(app, lang="fr")
        assert "Extraire pour un territoire" in html
        page = parse(html)
        (box,) = page.find("input", role="combobox")
        assert page.labels[box["id"]] == "Territoire"
        blob = re.search(r'class="dataclic-strings">(.*?)</script>', html, re.DOTALL).group(1)
        strings = json.loads(blob)
        assert strings["no_result"] == "Aucun territoire trouvé"
        assert strings["preview_exact"] == {"one": "{count} ligne pour {name}",
                                            "other": "{count} lignes pour {name}"}

    def test_anonymous_visitors_get_no_publish_form(self, app):
        assert not parse(render_panel(app)).find("form", class_="dataclic-publish")

    def test_editors_choose_among_their_organisations(self, app):
        editor = factories.User()
        mine = factories.Organization(
            title="Métropole ouverte", users=[{"name": editor["name"], "capacity": "editor"}]
        )
        factories.Organization(title="Someone else's")
        page = parse(render_panel(app, user=editor))
        assert page.find("form", class_="dataclic-publish")
        html = render_panel(app, user=editor)
        assert f'<option value="{mine["id"]}">Métropole ouverte</option>' in html
        assert "Someone else" not in html

    def test_members_who_cannot_create_datasets_get_no_publish_form(self, app):
        member = factories.User()
        factories.Organization(users=[{"name": member["name"], "capacity": "member"}])
        assert not parse(render_panel(app, user=member)).find("form", class_="dataclic-publish")

    @pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", "epci:243300316")
    def test_home_territory_is_preselected(self, app):
        page = parse(render_panel(app))
        (box,) = page.find("input", role="combobox")
        assert box["value"] == "Bordeaux Métropole"
        assert box["data-perimeter"] == "epci:243300316"

    @pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", "epci:999999999")
    def test_an_unknown_home_territory_preselects_nothing(self, app):
        (box,) = parse(render_panel(app)).find("input", role="combobox")
        assert box["value"] == "" and box["data-perimeter"] == ""


@pytest.mark.usefixtures("clean_db", "with_plugins")
class TestResourcePage:
    def test_a_resource_without_profile_shows_no_panel(self, app):
        dataset = factories.Dataset(owner_org=factories.Organization()["id"])
        resource = factories.Resource(package_id=dataset["id"], url="http://127.0.0.1:9/x.pdf",
                                      format="PDF")
        html = app.get(f"/dataset/{dataset['name']}/resource/{resource['id']}").body
        assert resource["id"] in html
        assert "dataclic-extract" not in html

    @pytest.mark.usefixtures("with_test_worker")
    def test_a_table_keyed_by_commune_code_gets_the_panel(self, app, create_with_upload,
                                                          migrate_db_for):
        from ckan.lib import jobs

        migrate_db_for("dataclic")
        dataset = factories.Dataset(owner_org=factories.Organization()["id"])
        rows = "code_commune;nom;population\n33063;Bordeaux;261804\n33281;Mérignac;72197\n"
        resource = create_with_upload(rows.encode(), "communes.csv", package_id=dataset["id"],
                                      format="CSV")
        jobs.Worker([q.name.split(":")[-1] for q in jobs.get_all_queues()] or ["default"]) \
            .work(burst=True)
        html = app.get(f"/dataset/{dataset['name']}/resource/{resource['id']}").body
        page = parse(html)
        (section,) = page.find("section", class_="dataclic-extract")
        assert section["data-module-resource-id"] == resource["id"]
        (fmt,) = page.find("select", class_="dataclic-format")
        assert "csv" in page.options[fmt["id"]]
        assert not {"geojson", "gpkg", "shp"} & set(page.options[fmt["id"]])
        assert not page.find("select", class_="dataclic-crs")
        assert "dataclic-extract.js" in html
        # One asset for the panel: its CSS travels in the script bundle.
        assert "dataclic.css" not in html
        # The map outlines what the file covers: its département, from the profile.
        assert json.loads(section["data-module-departements"]) == ["33"]
        assert json.loads(section["data-module-bounds"]) is None   # no geometry, no extent

    def test_the_panel_helper_tolerates_unknown_resources(self, app):
        with app.flask_app.test_request_context():
            assert helpers.extraction_panel("no-such-resource") is None
            assert helpers.extraction_panel("") is None


@pytest.mark.usefixtures("clean_db", "with_plugins")
class TestProvenance:
    def published(self, source, **extras):
        """A dataset as dataclic_publish leaves it when it creates one (dataset extras)."""
        values = {
            "dataclic_source_package": source["name"],
            "dataclic_source_package_title": source["title"],
            "dataclic_source_resource": source["resources"][0]["id"],
            "dataclic_perimeter": "epci:243300316",
            "dataclic_perimeter_name": "Bordeaux Métropole",
            "dataclic_cog_vintage": "COG 2026",
            "dataclic_extraction_date": "2026-11-29T20:15:00",
            "dataclic_mode": "filter",
            "dataclic_rows_kept": "28",
            "dataclic_last_refresh": "2026-11-29T21:00:00",
            "dataclic_refresh_status": "ok",
            **extras,
        }
        return factories.Dataset(
            title="Communes — Bordeaux Métropole",
            owner_org=source["owner_org"],
            extras=[{"key": k, "value": v} for k, v in values.items()],
        )

    def source(self):
        dataset = factories.Dataset(
            title="Communes de France", owner_org=factories.Organization()["id"]
        )
        factories.Resource(package_id=dataset["id"], url="http://127.0.0.1:9/c.csv")
        return tk.get_action("package_show")({"ignore_auth": True}, {"id": dataset["id"]})

    def test_published_extract_links_back_to_its_source(self, app):
        source = self.source()
        extract = self.published(source)
        html = app.get(f"/dataset/{extract['name']}").body
        page = parse(html)
        assert page.find("section", class_="dataclic-provenance")
        assert page.find("a", href=f"/dataset/{source['name']}")
        resource_id = source["resources"][0]["id"]
        assert page.find("a", href=f"/dataset/{source['name']}/resource/{resource_id}")
        for text in ("Communes de France", "Bordeaux Métropole", "epci:243300316", "COG 2026",
                     "Filter by commune code", "succeeded"):
            assert text in html
        # Not repeated as raw keys in "Additional Info".
        assert "dataclic_cog_vintage" not in html and "dataclic_perimeter_name" not in html

    def test_a_failed_refresh_says_why(self, app):
        extract = self.published(
            self.source(), dataclic_refresh_status="failed",
            dataclic_refresh_message="the source file is corrupt",
        )
        html = app.get(f"/dataset/{extract['name']}").body
        assert "the source file is corrupt" in html and "text-bg-danger" in html

    def test_french_provenance(self, app):
        extract = self.published(self.source())
        html = app.get(f"/fr/dataset/{extract['name']}").body
        assert "Extraire pour un territoire" in html and "Dernière mise à jour" in html

    def test_extracts_added_to_an_existing_dataset_show_per_resource(self, app):
        source = self.source()
        dataset = factories.Dataset(owner_org=source["owner_org"])
        for name, perimeter in (("Bordeaux", "commune:33063"), ("Mérignac", "commune:33281")):
            factories.Resource(
                package_id=dataset["id"], url="http://127.0.0.1:9/x.csv", name=name,
                dataclic_source_package=source["name"],
                dataclic_source_resource=source["resources"][0]["id"],
                dataclic_perimeter=perimeter, dataclic_perimeter_name=name,
            )
        html = app.get(f"/dataset/{dataset['name']}").body
        assert "commune:33063" in html and "commune:33281" in html
        assert html.count(f'href="/dataset/{source["name"]}"') == 2

    def test_a_deleted_source_is_named_without_a_link(self, app):
        source = self.source()
        extract = self.published(source)
        tk.get_action("package_delete")({"ignore_auth": True}, {"id": source["id"]})
        html = app.get(f"/dataset/{extract['name']}").body
        assert "Communes de France" in html
        assert f'href="/dataset/{source["name"]}"' not in html

    def test_organisation_page_lists_the_extract_with_its_source(self, app):
        source = self.source()
        extract = self.published(source, dataclic_refresh_status="failed")
        organization = tk.get_action("organization_show")(
            {"ignore_auth": True}, {"id": extract["owner_org"]})
        html = app.get(f"/fr/organization/{organization['name']}").body
        assert "Extrait de" in html and "pour Bordeaux Métropole (COG 2026)" in html
        summary = html.split("dataclic-extract-summary", 1)[1].split("</p>", 1)[0]
        assert f'href="/fr/dataset/{source["name"]}"' in summary
        assert "dernière mise à jour en échec" in summary

    def test_other_datasets_have_no_provenance_box(self, app):
        dataset = factories.Dataset(owner_org=factories.Organization()["id"])
        assert "dataclic-provenance" not in app.get(f"/dataset/{dataset['name']}").body


@pytest.mark.usefixtures("clean_db", "with_plugins", "territory_tables")
class TestHomeTerritory:
    @pytest.mark.ckan_config("ckanext.dataclic.default_perimeter", "epci:243300316")
    def test_home_page_links_to_the_extracts_published_for_the_territory(self, app):
        organization = factories.Organization()
        factories.Dataset(
            title="Arbres — Bordeaux Métropole", owner_org=organization["id"],
            extras=[{"key": "dataclic_perimeter", "value": "epci:243300316"}],
        )
        factories.Dataset(
            title="Arbres — Gironde", owner_org=organization["id"],
            extras=[{"key": "dataclic_perimeter", "value": "departement:33"}],
        )
        home = app.get("/fr/").body
        assert "Données pour Bordeaux Métropole" in home
        (link,) = [a for a in parse(home).find("a") if "dataclic_perimeter" in a.get("href", "")]
        listing = app.get(link["href"]).body
        assert "Arbres — Bordeaux Métropole" in listing
        assert "Arbres — Gironde" not in listing

    def test_no_link_without_a_home_territory(self, app):
        assert "dataclic-home-territory" not in app.get("/").body
