"""The one exception type the extraction engine raises for bad input."""

from __future__ import annotations


class ExtractionError(ValueError):
    """Raised for any input, option or perimeter problem; the message is plain English,
    one line, meant to be shown to the user as is (CKAN glue translates it)."""
