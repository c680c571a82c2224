"""Authorization functions, one per action of ``logic/action.py``."""
from __future__ import annotations

from typing import Any, Callable


def get_auth_functions() -> dict[str, Callable[..., Any]]:
    return {}
