"""Authorization functions, one per action of ``logic/action.py``."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ckan.plugins.toolkit as tk


@tk.auth_allow_anonymous_access
def dataclic_territory_search(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """Territories are public reference data: anyone may search them."""
    return {"success": True}


@tk.auth_allow_anonymous_access
def dataclic_territory_show(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """Anyone may read a territory and its geometry."""
    return {"success": True}


def dataclic_territory_sources(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """Only sysadmins (who pass every check) may create the territory's harvest sources."""
    return {"success": False, "msg": tk._("Only sysadmins may add harvest sources for the "
                                          "territory.")}


def get_auth_functions() -> dict[str, Callable[..., Any]]:
    return {
        "dataclic_territory_search": dataclic_territory_search,
        "dataclic_territory_show": dataclic_territory_show,
        "dataclic_territory_sources": dataclic_territory_sources,
    }
