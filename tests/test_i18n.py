"""Every user-facing string has a French translation, and the compiled catalogue is current."""
from __future__ import annotations

import gettext
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
I18N = ROOT / "ckanext" / "dataclic" / "i18n"
PO = I18N / "fr" / "LC_MESSAGES" / "ckanext-dataclic.po"
MO = PO.with_suffix(".mo")

METHOD_MAP = [
    # By its import path: Babel 2.15 (CKAN 2.11's pin) finds entry-point extractors only
    # through pkg_resources, which recent setuptools no longer ship.
    ("**/templates/**.html", "ckan.lib.extract:extract_ckan"),
    ("**/assets/**.js", "javascript"),
    ("**.py", "python"),
]
KEYWORDS = {"_": None, "ungettext": (1, 2), "ngettext": (1, 2), "N_": None}


def source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "ckanext"), method_map=METHOD_MAP, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def french_catalogue():
    with PO.open("rb") as handle:
        return read_po(handle, locale="fr")


def test_every_string_has_a_french_translation():
    catalogue = french_catalogue()
    missing = []
    for message_id in sorted(source_messages()):
        entry = catalogue.get(message_id)
        translated = entry is not None and not entry.fuzzy and (
            all(entry.string) if isinstance(entry.string, tuple) else bool(entry.string)
        )
        if not translated:
            missing.append(message_id)
    assert not missing, "untranslated in French (run scripts/i18n.sh update): " + "; ".join(missing)


def test_compiled_catalogue_matches_the_po_file():
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in french_catalogue():
        if entry.id and not isinstance(entry.id, tuple) and entry.string and not entry.fuzzy:
            assert compiled.gettext(entry.id) == entry.string, (
                f"{entry.id!r}: the .mo is stale (run scripts/i18n.sh compile)"
            )
