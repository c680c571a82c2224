"""Public API actions of ckanext-dataclic (all prefixed ``dataclic_``)."""
from __future__ import annotations

from typing import Any, Callable


def get_actions() -> dict[str, Callable[..., Any]]:
    return {}
