"""Every message the engine and the remote client raise is a template of the message
catalogue with a French translation, and renders wholly in French."""
from __future__ import annotations

import ast
import gettext
import string
from pathlib import Path

import pytest

from ckanext.dataclic import translation_sources
from ckanext.dataclic.extract import ExtractionError, extract
from ckanext.dataclic.extract.errors import render_detail

PACKAGE = Path(__file__).resolve().parents[2] / "ckanext" / "dataclic"
# The errors whose messages reach a widget or API user, and the modules raising them.
# (errors.py, the mechanism, rebuilds unpickled errors from their stored template.)
RAISED = {"ExtractionError": sorted(p for p in (PACKAGE / "extract").rglob("*.py")
                                    if p.name != "errors.py"),
          "RemoteError": [PACKAGE / "remote.py"]}


def _n_literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "N_" \
            and node.args and isinstance(node.args[0], ast.Constant):
        return node.args[0].value
    return None


def _assigned_templates(tree: ast.AST, name: str) -> list[str]:
    """The ``N_`` literals assigned to ``name`` anywhere in the module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            values = [node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) \
                else [node.value]
            found += [t for v in values if (t := _n_literal(v)) is not None]
    return found


def raised_templates() -> tuple[dict[str, str], list[str]]:
    """({template: where}, [raise sites whose message is no catalogue template])."""
    templates: dict[str, str] = {}
    bad: list[str] = []
    for error, files in RAISED.items():
        position = 1 if error == "RemoteError" else 0
        for path in files:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id == error and len(node.args) > position):
                    continue
                where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                message = node.args[position]
                found = [t] if (t := _n_literal(message)) is not None else \
                    _assigned_templates(tree, message.id) if isinstance(message, ast.Name) \
                    else []
                if not found:
                    bad.append(where)
                templates.update(dict.fromkeys(found, where))
    return templates, bad


def french() -> gettext.GNUTranslations:
    with translation_sources.PO.with_suffix(".mo").open("rb") as handle:
        return gettext.GNUTranslations(handle)


def test_every_raised_message_is_a_template_with_a_french_translation():
    templates, bad = raised_templates()
    assert not bad, f"messages raised without N_(template) (f-strings?): {bad}"
    assert len(templates) > 80  # the walk sees the engine, its grids and the remote client
    catalogue = translation_sources.french_catalogue()
    fields = string.Formatter()
    missing, misfit = [], []
    for template, where in templates.items():
        entry = catalogue.get(template)
        if entry is None or not entry.string or entry.fuzzy:
            missing.append(f"{where}: {template}")
        elif {f[1] for f in fields.parse(template) if f[1]} != \
                {f[1] for f in fields.parse(entry.string) if f[1]}:
            misfit.append(f"{where}: {template}")
    assert not missing, "no French translation (add it to the .po): " + "; ".join(missing)
    assert not misfit, "the French translation has other placeholders: " + "; ".join(misfit)


def test_the_walk_sees_a_raise_without_template(tmp_path, monkeypatch):
    module = tmp_path / "bad.py"
    module.write_text('def f(name):\n    raise ExtractionError(f"No {name}")\n'
                      'def g():\n    raise ExtractionError(N_("Fine"))\n', encoding="utf-8")
    monkeypatch.setitem(RAISED, "ExtractionError", [module])
    monkeypatch.setitem(RAISED, "RemoteError", [])
    monkeypatch.setitem(globals(), "PACKAGE", tmp_path)
    templates, bad = raised_templates()
    assert bad == ["bad.py:2"] and list(templates) == ["Fine"]


def test_an_engine_error_renders_wholly_in_french_and_stays_english(tmp_path, ref, bordeaux):
    src = tmp_path / "population.csv"
    src.write_text("code_insee;population\n33063;260000\n", encoding="utf-8")
    with pytest.raises(ExtractionError) as caught:
        extract(src, bordeaux, tmp_path / "out.csv", referential=ref, mode="clip")
    english = str(caught.value)
    assert english.startswith("The clip mode needs geometry") and "--lat/--lon" in english
    shown = caught.value.render(french().gettext)
    assert "géométrie" in shown and "latitude et de longitude" in shown
    assert not {"needs", "none", "found", "name", "its"} & set(shown.split())
    # Stored as JSON, rendered later: the same two texts.
    assert render_detail(caught.value.detail()) == english
    assert render_detail(caught.value.detail(), french().gettext) == shown


def test_a_nested_message_renders_in_the_same_language():
    from ckanext.dataclic.remote import RemoteError
    from ckanext.dataclic.territories.codes import PerimeterError, parse_perimeter_id

    inner = RemoteError("http://127.0.0.1/x.csv", "the server answered {status} {reason}", 404,
                        status=404, reason="Not Found", translated_values=("reason",))
    outer = ExtractionError("Cannot fetch {url}: {reason}", url="http://127.0.0.1/x.csv",
                            reason=inner)
    assert str(outer) == "Cannot fetch http://127.0.0.1/x.csv: the server answered 404 Not Found"
    assert outer.render(french().gettext) == \
        "Impossible de récupérer http://127.0.0.1/x.csv : le serveur a répondu 404 Introuvable"
    with pytest.raises(PerimeterError) as caught:
        parse_perimeter_id("canton:1")
    error = caught.value
    assert render_detail(error.detail()) == str(error)
    assert render_detail(error.detail(), french().gettext) == error.render(french().gettext)
    assert render_detail(error.detail(), french().gettext) != str(error)
