"""How user input appears in messages: never more than 200 characters, never the
credentials of a URL (``https://user:secret@host/`` is shown as ``https://host/``).

Plain Python, shared by the CKAN glue and the extraction."""
from __future__ import annotations

import re

MAX_CHARS = 200
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
# Query parameters that commonly carry secrets.
_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:api[_-]?key|apikey|token|access_token|key|password|passwd|secret|"
    r"signature|sig)=)[^&#\s]*")


def redact(text: str) -> str:
    """``text`` without the credentials of the URLs it holds."""
    text = _CREDENTIALS.sub(r"\1", text)
    return _SECRET_PARAMS.sub(r"\1***", text)


def shorten(value: object, limit: int = MAX_CHARS) -> str:
    """``value`` as text, redacted and cut to ``limit`` characters (an ellipsis marks the
    cut)."""
    text = redact(str(value))
    return text if len(text) <= limit else text[:limit] + "…"
