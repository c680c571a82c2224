"""The messages the extension's French catalogue must translate, and how much of it does.

Three sources:

- the extension's own messages: ``_()``, ``ungettext``/``ngettext``, ``N_`` and the
  portal-language keywords of :mod:`ckanext.dataclic.portal_language` in its Python, its
  templates and its widget's script;
- the descriptions of its harvesters (shown on ``/harvest/new``), which are class attributes;
- the messages of ckanext-harvest (pages ``/harvest``, ``/harvest/new``, job pages, its flash
  messages and authorisation errors) that neither CKAN nor ckanext-harvest translate into
  French: ckanext-harvest ships no French catalogue. CKAN merges every plugin's catalogue into
  one, so translating them in the extension's domain puts those pages in French.

``scripts/i18n.sh update`` adds the last two to the ``.pot`` (babel cannot find them in the
extension's sources); ``tests/test_i18n.py`` fails when one of them has no French translation
and prints the coverage. Command line: ``python -m ckanext.dataclic.translation_sources
coverage|add-to-pot FILE``.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po, write_po

PACKAGE = Path(__file__).resolve().parent
PO = PACKAGE / "i18n" / "fr" / "LC_MESSAGES" / "ckanext-dataclic.po"

KEYWORDS = {"_": None, "ungettext": (1, 2), "ngettext": (1, 2), "N_": None,
            "gettext_default": None, "ngettext_default": (1, 2)}
EXTENSION_METHODS = [
    ("**/templates/**.html", "ckan.lib.extract:extract_ckan"),
    ("**/assets/**.js", "javascript"),
    ("**.py", "python"),
]
HARVEST_METHODS = [
    ("**/tests/**", "ignore"),
    ("**/templates/**.html", "ckan.lib.extract:extract_ckan"),
    ("**.py", "python"),
]
HARVESTER_MODULES = ("udata", "ods", "hubeau", "georisques", "wfs", "datafair")
# Messages CKAN builds at run time for the harvest source search (templates/snippets/
# search_result_text.html words them from the dataset type, here "harvest"): no extractor sees
# them, and ckanext-harvest's own wording of them is not used by CKAN 2.12.
HARVEST_SEARCH_MESSAGES: list[tuple[str, str] | str] = [
    ('{number} harvest found for "{query}"', '{number} harvests found for "{query}"'),
    'No harvests found for "{query}"',
    ("{number} harvest found", "{number} harvests found"),
    "No harvests found",
]

Message = str | tuple[str, str]


def _extract(folder: Path, methods: list[tuple[str, str]]) -> list[Message]:
    found: dict[Message, None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(folder), method_map=methods, keywords=KEYWORDS):
        key = message if isinstance(message, str) else (message[0], message[1])
        found[key] = None
    return list(found)


def extension_messages() -> list[Message]:
    return _extract(PACKAGE.parent.parent / "ckanext", EXTENSION_METHODS)


def harvester_messages() -> list[Message]:
    """The descriptions the extension's harvesters show on the new-source page."""
    try:
        import importlib

        found = []
        for name in HARVESTER_MODULES:
            module = importlib.import_module(f"ckanext.dataclic.harvesters.{name}")
            for value in vars(module).values():
                description = getattr(value, "description", None)
                name = getattr(value, "name", None)
                if isinstance(value, type) and isinstance(name, str) and name.startswith(
                        "dataclic_") and isinstance(description, str):
                    found.append(description)
        return list(dict.fromkeys(found))
    except ImportError:   # ckanext-harvest (the "harvest" extra) is not installed
        return []


def _translated(catalog: Catalog | None, message: Message) -> bool:
    if catalog is None:
        return False
    entry = catalog.get(message if isinstance(message, str) else message[0])
    if entry is None or entry.fuzzy:
        return False
    return all(entry.string) if isinstance(entry.string, tuple) else bool(entry.string)


def _french_catalogue_of(package_dir: Path, domain: str) -> Catalog | None:
    mo = package_dir / "i18n" / "fr" / "LC_MESSAGES" / f"{domain}.mo"
    po = mo.with_suffix(".po")
    if mo.is_file():
        with mo.open("rb") as handle:
            return read_mo(handle)
    if po.is_file():
        with po.open("rb") as handle:
            return read_po(handle)
    return None


def harvest_gap_messages() -> list[Message]:
    """ckanext-harvest's messages that neither CKAN nor ckanext-harvest translate into French."""
    try:
        import ckan
        import ckanext.harvest
    except ImportError:
        return []
    harvest_dir = Path(ckanext.harvest.__file__).resolve().parent
    core = _french_catalogue_of(Path(ckan.__file__).resolve().parent, "ckan")
    own = _french_catalogue_of(harvest_dir, "ckanext-harvest")
    messages = _extract(harvest_dir, HARVEST_METHODS) + HARVEST_SEARCH_MESSAGES
    return [m for m in messages if not _translated(core, m) and not _translated(own, m)]


def required_messages() -> dict[str, list[Message]]:
    return {"extension": extension_messages(), "harvesters": harvester_messages(),
            "ckanext-harvest": harvest_gap_messages()}


def french_catalogue() -> Catalog:
    with PO.open("rb") as handle:
        return read_po(handle, locale="fr")


def untranslated(catalog: Catalog | None = None) -> dict[str, list[Message]]:
    catalog = catalog or french_catalogue()
    return {part: [m for m in messages if not _translated(catalog, m)]
            for part, messages in required_messages().items()}


def coverage_lines(catalog: Catalog | None = None) -> list[str]:
    catalog = catalog or french_catalogue()
    lines, total, done = [], 0, 0
    for part, messages in required_messages().items():
        ok = sum(_translated(catalog, m) for m in messages)
        lines.append(f"{part}: {ok}/{len(messages)} translated into French")
        total, done = total + len(messages), done + ok
    percent = 100.0 * done / total if total else 100.0
    lines.append(f"French coverage: {done}/{total} = {percent:.1f} %")
    return lines


def add_to_pot(pot: Path, messages: Iterable[Message]) -> int:
    """Add ``messages`` the extractor cannot see to the template ``pot``; returns how many."""
    with pot.open("rb") as handle:
        catalog = read_po(handle)
    added = 0
    for message in messages:
        key = message if isinstance(message, str) else message[0]
        if catalog.get(key) is None:
            catalog.add(message)
            added += 1
    with pot.open("wb") as handle:
        write_po(handle, catalog, sort_output=True, omit_header=False, no_location=True)
    return added


def main(argv: list[str]) -> int:
    if argv[:1] == ["coverage"]:
        print("\n".join(coverage_lines()))
        missing = untranslated()
        return 1 if any(missing.values()) else 0
    if argv[:1] == ["add-to-pot"] and len(argv) == 2:
        parts = required_messages()
        count = add_to_pot(Path(argv[1]), parts["harvesters"] + parts["ckanext-harvest"])
        print(f"added {count} messages of the harvesters and ckanext-harvest to {argv[1]}")
        return 0
    print("usage: python -m ckanext.dataclic.translation_sources coverage|add-to-pot FILE",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
