"""Authorization of the extraction actions: reading follows the resource, publishing
follows the target organisation."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ckan.plugins.toolkit as tk


def _user_context(context: dict[str, Any]) -> dict[str, Any]:
    return {"user": context.get("user"), "auth_user_obj": context.get("auth_user_obj")}


def can_read_resource(context: dict[str, Any], resource_id: str | None) -> bool:
    if not resource_id:
        return True  # the action reports the missing field
    try:
        tk.check_access("resource_show", _user_context(context), {"id": resource_id})
    except tk.NotAuthorized:
        return False
    except tk.ObjectNotFound:
        return True  # the action answers 404
    return True


def _readable(context: dict[str, Any], resource_id: str | None) -> dict[str, Any]:
    if can_read_resource(context, resource_id):
        return {"success": True}
    return {"success": False, "msg": tk._("You are not allowed to read this resource")}


@tk.auth_allow_anonymous_access
def dataclic_profile_show(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    return _readable(context, data_dict.get("resource_id"))


def dataclic_profile_update(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    from ckan import model

    resource = model.Resource.get(str(data_dict.get("resource_id") or ""))
    if resource is None:
        return {"success": True}  # the action answers 404
    try:
        tk.check_access("package_update", _user_context(context), {"id": resource.package_id})
    except tk.NotAuthorized:
        return {"success": False,
                "msg": tk._("Only editors of the dataset may correct its profile")}
    except tk.ObjectNotFound:
        pass
    return {"success": True}


@tk.auth_allow_anonymous_access
def dataclic_extract(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    return _readable(context, data_dict.get("resource_id"))


@tk.auth_allow_anonymous_access
def dataclic_extract_preview(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    return _readable(context, data_dict.get("resource_id"))


@tk.auth_allow_anonymous_access
def dataclic_extract_show(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """Readers of the extracted resource may see the extraction (a guessed id included)."""
    from ckanext.dataclic.model import extraction as store

    record = store.get_extraction(str(data_dict.get("id") or ""))
    return _readable(context, record["resource_id"] if record else None)


@tk.auth_allow_anonymous_access
def dataclic_extract_list(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    if tk.asbool(data_dict.get("mine")) and not context.get("user"):
        return {"success": False, "msg": tk._("Log in to list your extractions")}
    return _readable(context, data_dict.get("resource_id"))


def dataclic_publish(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """Logged-in users; the action then checks package_create/update in the organisation."""
    return {"success": True}


def get_auth_functions() -> dict[str, Callable[..., Any]]:
    return {
        "dataclic_profile_show": dataclic_profile_show,
        "dataclic_profile_update": dataclic_profile_update,
        "dataclic_extract": dataclic_extract,
        "dataclic_extract_preview": dataclic_extract_preview,
        "dataclic_extract_show": dataclic_extract_show,
        "dataclic_extract_list": dataclic_extract_list,
        "dataclic_publish": dataclic_publish,
    }
