"""Every user-facing string has a French translation, and the compiled catalogue is current.

"User-facing" covers: the extension's ``_()``/plural/portal-language messages (Python,
templates, the widget's script), its harvesters' descriptions, the messages of ckanext-harvest's
pages that nobody else translates (ckanext/dataclic/translation_sources.py), text written in
templates without ``_()``, and the message keys the widget's script shows.
"""
from __future__ import annotations

import gettext
import re
from pathlib import Path

from ckanext.dataclic import translation_sources

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ckanext" / "dataclic"
PO = translation_sources.PO
MO = PO.with_suffix(".mo")
# The panel's bundle: its grid part and the module itself.
SCRIPTS = [PACKAGE / "assets" / "dataclic-extract-grid.js",
           PACKAGE / "assets" / "dataclic-extract.js"]


def french_catalogue():
    return translation_sources.french_catalogue()


def test_every_string_has_a_french_translation():
    missing = translation_sources.untranslated()
    print("\n" + "\n".join(translation_sources.coverage_lines()))
    assert not any(missing.values()), "untranslated in French (append them to the .po): " + \
        "; ".join(f"{part}: {messages}" for part, messages in missing.items() if messages)


def test_the_check_sees_ckanext_harvest_and_the_harvesters():
    """The required set holds what babel cannot find in our sources (else the check above
    could pass while /harvest stays English)."""
    required = translation_sources.required_messages()
    assert "Add Harvest Source" in required["ckanext-harvest"]
    assert "Harvest Jobs" in required["ckanext-harvest"]
    # ... but not what CKAN itself translates already.
    assert "Title" not in required["ckanext-harvest"]
    from ckanext.dataclic.harvesters.wfs import WfsHarvester

    assert WfsHarvester.description in required["harvesters"]


def visible_template_text(source: str) -> list[str]:
    """Words a template shows as they are written (outside ``{{ _() }}``), and literal
    ``title``/``alt``/``placeholder``/``aria-label`` attributes."""
    text = re.sub(r"\{#.*?#\}", " ", source, flags=re.DOTALL)
    text = re.sub(r"\{%.*?%\}", " ", text, flags=re.DOTALL)
    text = re.sub(r"\{\{.*?\}\}", " ", text, flags=re.DOTALL)
    text = re.sub(r"<script\b.*?</script>", " ", text, flags=re.DOTALL)
    attributes = re.findall(r'\b(?:title|alt|placeholder|aria-label)="([^"]*)"', text)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.DOTALL)
    text = re.sub(r"&\w+;|&#\d+;", " ", text)
    return re.findall(r"[^\W\d_]{2,}", text) + [
        a for a in attributes if re.search(r"[^\W\d_]{2,}", a)]


def test_templates_write_no_text_outside_translations():
    templates = sorted(PACKAGE.rglob("templates/**/*.html"))
    assert len(templates) >= 5
    found = {str(t.relative_to(ROOT)): words for t in templates
             if (words := visible_template_text(t.read_text(encoding="utf-8")))}
    assert not found, f"text not wrapped in {{{{ _('…') }}}}: {found}"


def test_visible_template_text_finds_plain_english():
    assert visible_template_text('<p>Download the file</p><i title="Help">{{ _("x") }}</i>') \
        == ["Download", "the", "file", "Help"]
    assert visible_template_text("{# a note #}<p>{{ _('Territory') }}</p>{% if x %}") == []


def test_every_message_the_widget_shows_is_sent_translated(app):
    """The script shows its messages by key; a key the page does not send would show the key
    itself (English) to a French user."""
    from ckanext.dataclic import helpers

    script = "\n".join(s.read_text(encoding="utf-8") for s in SCRIPTS)
    used = set(re.findall(r'\bt\(\s*"([a-z_]+)"', script))
    for first, second in re.findall(r'\bt\([^,()]*\?\s*"([a-z_]+)"\s*:\s*"([a-z_]+)"', script):
        used |= {first, second}
    used |= {f"kind_{k}" for k in ("commune", "arrondissement", "epci", "departement",
                                   "region")}
    assert len(used) > 25
    with app.flask_app.test_request_context("/fr/"):
        sent = helpers._build_panel_strings()
    assert not used - set(sent), f"shown by the script but not sent: {used - set(sent)}"


def test_compiled_catalogue_matches_the_po_file():
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in french_catalogue():
        if entry.id and not isinstance(entry.id, tuple) and entry.string and not entry.fuzzy:
            assert compiled.gettext(entry.id) == entry.string, (
                f"{entry.id!r}: the .mo is stale (run scripts/i18n.sh compile)"
            )


def test_the_french_catalogue_parses_as_ckan_reads_it():
    """`ckan run` builds the widget's JS translations from the .po with polib, which stops
    the server on a syntax error that babel's reader lets through."""
    import polib

    catalogue = polib.pofile(str(PO))
    assert catalogue.percent_translated() == 100
