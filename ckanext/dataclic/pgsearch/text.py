"""Text folding and the split of an index document into weighted searchable text.

Accents are folded in Python, before PostgreSQL builds its ``tsvector``: no database extension
is needed (``unaccent`` would require a superuser on some hosts and does not survive a
``clean_db``), and the same folding applies to documents and to queries.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

# Letters NFKD does not decompose into a base letter plus combining marks.
_LIGATURES = str.maketrans(
    {
        "œ": "oe",
        "Œ": "OE",
        "æ": "ae",
        "Æ": "AE",
        "ß": "ss",
        "ø": "o",
        "Ø": "O",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "’": "'",
    }
)

_WORD_CHAR = re.compile(r"\w", re.UNICODE)

# Fields Solr's CKAN schema copies into its catch-all ``text`` field, by search weight.
# Weight A mirrors ``qf = name^4 title^4``, B ``tags^2 groups^2``, D the rest of ``text``.
WEIGHT_A_FIELDS = ("name", "title")
WEIGHT_B_FIELDS = ("tags", "groups")
WEIGHT_D_FIELDS = (
    "text",
    "notes",
    "license",
    "organization",
    "res_name",
    "res_description",
    "maintainer",
    "author",
)
# URLs are searchable as whole tokens only ('simple' configuration): stemming them in
# three languages tripled the size of the vector for no useful match.
URL_FIELDS = ("url", "ckan_url", "download_url", "res_url", "urls")
WEIGHT_D_PREFIXES = ("extras_", "res_extras_", "vocab_")

# Solr ``text``/``textgen`` fields of CKAN's schema: matched word by word, not as exact strings.
TEXT_FIELDS = frozenset(
    {
        "title",
        "notes",
        "text",
        "urls",
        "author",
        "author_email",
        "maintainer",
        "maintainer_email",
        "res_name",
        "res_description",
        "depends_on",
        "dependency_of",
        "derives_from",
        "has_derivation",
        "links_to",
        "linked_from",
        "child_of",
        "parent_of",
    }
)
TEXT_FIELD_PREFIXES = ("extras_", "res_extras_")


def fold(value: str) -> str:
    """Return ``value`` without diacritics or ligatures ("Écologie" -> "Ecologie")."""
    decomposed = unicodedata.normalize("NFKD", value.translate(_LIGATURES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def has_word(value: str) -> bool:
    """True when ``value`` holds at least one letter or digit a tokenizer would keep."""
    return bool(_WORD_CHAR.search(value))


def is_text_field(field: str) -> bool:
    """True for fields Solr analyses word by word (``title``, ``notes``, ``extras_*``…)."""
    return field in TEXT_FIELDS or field.startswith(TEXT_FIELD_PREFIXES)


def flatten(value: Any) -> Iterable[str]:
    """Yield the string forms of a scalar or of every item of a list value."""
    if value is None:
        return
    if isinstance(value, (list, tuple, set)):
        for item in value:
            yield from flatten(item)
    elif isinstance(value, dict):
        return
    elif isinstance(value, bool):
        yield "true" if value else "false"
    else:
        text = str(value)
        if text:
            yield text


def _join(doc: Mapping[str, Any], fields: Iterable[str]) -> str:
    return " ".join(part for field in fields for part in flatten(doc.get(field)))


def weighted_text(doc: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """Folded searchable text of a document: weights A, B and D, then its URLs."""
    d_fields = list(WEIGHT_D_FIELDS) + sorted(
        key for key in doc if key.startswith(WEIGHT_D_PREFIXES)
    )
    return (
        fold(_join(doc, WEIGHT_A_FIELDS)),
        fold(_join(doc, WEIGHT_B_FIELDS)),
        fold(_join(doc, d_fields)),
        _join(doc, URL_FIELDS),
    )


def folded_text_fields(doc: Mapping[str, Any]) -> dict[str, str]:
    """Folded text of every word-matched field, for fielded queries such as ``title:eau``."""
    folded: dict[str, str] = {}
    for key, value in doc.items():
        if is_text_field(key):
            text = " ".join(flatten(value))
            if text:
                folded[key] = fold(text)
    return folded
