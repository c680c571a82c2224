"""The extraction engine: cut a national file to a territory perimeter.

Plain Python (no CKAN import). Heavy libraries are imported lazily, when an extraction runs.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ExtractionError",
    "ExtractionProfile",
    "ExtractionReport",
    "ExtractionResult",
    "ProfileOverrides",
    "detect_profile",
    "extract",
]


def __getattr__(name: str) -> Any:
    if name == "ExtractionError":
        from .errors import ExtractionError

        return ExtractionError
    if name in ("ExtractionProfile", "ProfileOverrides", "detect_profile"):
        from . import profile

        return getattr(profile, name)
    if name == "ExtractionReport":
        from .report import ExtractionReport

        return ExtractionReport
    if name in ("extract", "ExtractionResult"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(name)
