"""What a remote server's error answer says, fit for an error line: the ``ExceptionText`` of
an OGC ``ExceptionReport``, or the ``message``/``detail``/``error`` of a JSON body; control
characters removed, trimmed. Used by the HTTP client (:mod:`ckanext.dataclic.remote`)."""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree

WORDS_MAX = 300
_XML_INVALID = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def clean_words(text: str, limit: int = WORDS_MAX) -> str:
    """A server's message fit for an error line: control characters and runs of spaces
    become one space, trimmed to ``limit`` characters."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def ogc_exception_text(body: bytes) -> str | None:
    """The ``ExceptionText`` of an OGC ``ExceptionReport`` (or ``ServiceExceptionReport``),
    or None when the body is not one."""
    head = body.lstrip()[:512]
    if not head.startswith(b"<") or b"Exception" not in body[:4096]:
        return None
    body = _XML_INVALID.sub(b" ", body)  # control characters would stop the parser
    try:  # expat expands no external entity, and caps internal entity expansion
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, ValueError):
        return None
    if root is None or not str(root.tag).endswith("ExceptionReport"):
        return None
    texts = [
        " ".join(element.itertext()) for element in root.iter()
        if isinstance(element.tag, str)
        and element.tag.rsplit("}", 1)[-1] in ("ExceptionText", "ServiceException")
    ]
    found = clean_words(" ".join(texts) or " ".join(root.itertext()))
    return found or None


def _json_words(payload: Any) -> str | None:
    if isinstance(payload, str):
        return payload
    if isinstance(payload, list):
        words = [w for w in (_json_words(item) for item in payload[:5]) if w]
        return "; ".join(words) or None
    if not isinstance(payload, dict):
        return None
    for key in ("message", "detail", "error_description", "error", "errors", "title", "msg"):
        value = payload.get(key)
        if isinstance(value, dict | list):
            value = _json_words(value)
        if isinstance(value, str | int | float) and str(value).strip():
            return str(value)
    return None


def server_words(body: bytes) -> str | None:
    """What an error body says: an OGC exception text, a JSON ``message``/``detail``/
    ``error``, cleaned and trimmed; None when the body explains nothing."""
    if not body.strip():
        return None
    text = ogc_exception_text(body)
    if text:
        return text
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    words = _json_words(payload)
    return clean_words(words) if words and clean_words(words) else None
