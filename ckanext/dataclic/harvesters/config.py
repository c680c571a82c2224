"""Harvest source configuration: the checks of each key, the parsing of the JSON a source
is saved with, and the HTTP client a config asks for."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import ckan.plugins.toolkit as tk

from ckanext.dataclic.remote import HostPolicy, RemoteClient, RemoteLimits


class SourceConfigError(ValueError):
    """A harvest source config that cannot be used; the message names the key."""



Check = Callable[[str, Any], Any]


def _positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SourceConfigError(f"'{key}' must be a positive number, not {value!r}")
    return float(value)


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SourceConfigError(f"'{key}' must be a positive whole number, not {value!r}")
    return value


def _retries(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise SourceConfigError(f"'{key}' must be a whole number from 0 to 10, not {value!r}")
    return value


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SourceConfigError(f"'{key}' must be true or false, not {value!r}")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SourceConfigError(f"'{key}' must be a non-empty string, not {value!r}")
    return value.strip()


def _text_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        raise SourceConfigError(f"'{key}' must be a non-empty list of strings")
    return [v.strip() for v in value]


def _mapping(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
    ):
        raise SourceConfigError(f"'{key}' must be an object of strings or numbers")
    return value


def one_of(*choices: str) -> Check:
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise SourceConfigError(f"'{key}' must be one of {', '.join(choices)}, not {value!r}")
        return value

    return check


def list_of(*choices: str) -> Check:
    def check(key: str, value: Any) -> list[str]:
        items = _text_list(key, value)
        wrong = [v for v in items if v not in choices]
        if wrong:
            raise SourceConfigError(
                f"'{key}' accepts only {', '.join(choices)}; got {', '.join(wrong)}"
            )
        return items

    return check


def _profile(key: str, value: Any) -> dict[str, Any]:
    allowed = {"code_column", "lat_column", "lon_column", "wkt_column", "point_column", "crs"}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise SourceConfigError(f"'{key}' must be an object of strings")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise SourceConfigError(f"'{key}' has unknown field(s): {', '.join(unknown)}")
    return value


COMMON_KEYS: dict[str, Check] = {
    "delete_mode": one_of("delete", "keep"),
    "connect_timeout": _positive_number,
    "read_timeout": _positive_number,
    "deadline": _positive_number,
    "max_retries": _retries,
    "backoff": _positive_number,
    "max_wait": _positive_number,
    "max_bytes": _positive_int,
    "max_pages": _positive_int,
    "default_tags": _text_list,
    "profile": _profile,
    "local_copy": _boolean,
    "local_copy_max_bytes": _positive_int,
    "max_datasets": _positive_int,
    "allow_empty": _boolean,
}


def parse_source_config(text: str | None, keys: dict[str, Check]) -> dict[str, Any]:
    if not text or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceConfigError(f"the configuration is not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise SourceConfigError("the configuration must be a JSON object")
    from .territorial import TERRITORIAL_KEYS  # perimeter, theme… (territorial harvest)

    allowed = {**COMMON_KEYS, **TERRITORIAL_KEYS, **keys}
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise SourceConfigError(
            f"unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return {key: allowed[key](key, value) for key, value in data.items()}


def api_root(source_url: str, versioned_path: str, *, marker: str = "/api/") -> str:
    """The API root ``<site>/<versioned_path>`` of a portal given by its site URL or by any
    URL under its API (``https://x/api/1/datasets/`` with ``api/1`` → ``https://x/api/1``)."""
    url = source_url.rstrip("/")
    if marker in url + "/":
        url = url[: url.index(marker.rstrip("/"))]
    return f"{url}/{versioned_path}"


def check_source_url(url: str) -> None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourceConfigError(f"the source URL must be an http(s) URL, not {url!r}")



def allowed_hosts() -> frozenset[str]:
    hosts = tk.config.get("ckanext.dataclic.harvest.allowed_hosts") or []
    if isinstance(hosts, str):
        hosts = hosts.split()
    return frozenset(h.lower() for h in hosts)


def client_for(config: dict[str, Any]) -> RemoteClient:
    names = ("connect_timeout", "read_timeout", "deadline", "max_retries", "backoff",
             "max_wait", "max_bytes", "max_pages")
    limits = RemoteLimits(**{k: config[k] for k in names if k in config})
    return RemoteClient(limits, HostPolicy(allowed_hosts()))

