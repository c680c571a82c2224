"""Remote descriptions as dataset notes: HTML (``<br/>``, ``</br>``, ``<p>``, lists,
entities) becomes plain text with Markdown line and paragraph breaks; text that is not HTML
(udata's Markdown, plain abstracts) is left as it is."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]{1,10});")
_BREAK = re.compile(r"<\s*/?\s*br\s*/?\s*>", re.IGNORECASE)
_BLOCK_END = re.compile(r"<\s*/\s*(p|div|h[1-6]|ul|ol|table|tr|blockquote)\s*>", re.IGNORECASE)
_BLOCK_START = re.compile(r"<\s*(p|div|h[1-6]|ul|ol|table|tr|blockquote)\b[^<>]*>",
                          re.IGNORECASE)
_ITEM = re.compile(r"<\s*li\b[^<>]*>", re.IGNORECASE)


def looks_like_html(text: str) -> bool:
    return bool(_TAG.search(text) or _ENTITY.search(text))


def notes_from_html(text: str) -> str:
    """Plain text (Markdown breaks) from an HTML fragment; other text unchanged."""
    if not text or not looks_like_html(text):
        return text
    out = _BREAK.sub("  \n", text)  # Markdown line break
    out = _BLOCK_END.sub("\n\n", out)
    out = _BLOCK_START.sub("\n\n", out)
    out = _ITEM.sub("\n- ", out)
    out = _TAG.sub("", out)
    out = html.unescape(out).replace("\xa0", " ")
    lines = [" ".join(line.split()) + ("  " if line.endswith("  ") else "")
             for line in out.split("\n")]
    out = "\n".join(line.rstrip() if not line.strip() else line for line in lines)
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()
