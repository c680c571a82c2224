"""Text written into the portal's content (descriptions of published datasets, stored refresh
outcomes) is in the portal's default language (``ckan.locale_default``), whoever asked and in
whatever language their page was: it is read later by everyone, and jobs have no request.

``gettext_default`` / ``ngettext_default`` are extraction keywords (scripts/i18n.sh,
tests/test_i18n.py): their messages go into the extension's catalogue like ``_()``'s.
"""
from __future__ import annotations

import datetime
from functools import lru_cache
from pathlib import Path

import ckan.plugins.toolkit as tk
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.support import NullTranslations, Translations

I18N_DIR = Path(__file__).resolve().parent / "i18n"
DOMAIN = "ckanext-dataclic"


def default_locale() -> str:
    return str(tk.config.get("ckan.locale_default") or "en")


@lru_cache(maxsize=8)
def _translations(locale: str) -> NullTranslations:
    return Translations.load(str(I18N_DIR), [locale], DOMAIN)


def gettext_default(message: str) -> str:
    """``message`` in the portal's default language."""
    return _translations(default_locale()).gettext(message)


def ngettext_default(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` for ``n``, in the portal's default language."""
    return _translations(default_locale()).ngettext(singular, plural, n)


def date_default(value: datetime.date | datetime.datetime | str) -> str:
    """A date written out in the portal's default language: "6 décembre 2026"."""
    if isinstance(value, str):
        value = datetime.date.fromisoformat(value[:10])
    if isinstance(value, datetime.datetime):
        value = value.date()
    try:
        locale = Locale.parse(default_locale().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        locale = Locale("en")
    return format_date(value, "long", locale=locale)
