"""Size estimates of the catalogue's sources for a territory, for the territory sources page
(its JSON endpoint) and ``ckan dataclic sources add-territory --dry-run``.

The counting itself is :mod:`.estimates` (plain Python). Here: every source is counted in
parallel in a bounded thread pool, each request with a short timeout and no retry, the whole
batch within a total bound (what is not done by then is "unknown"); results are kept in Redis
for ``cache_seconds`` (unknown ones for at most 5 minutes) so that the page shows them at once
the next time; and estimates are written for people in the page's language
("≈ 12 345 lignes", "≈ 3,2 Mo").

The page never waits for a remote API: it renders cached estimates and placeholders, and its
script asks the JSON endpoint for the rest after the page has loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import ckan.plugins as p
import ckan.plugins.toolkit as tk
from babel.core import UnknownLocaleError
from babel.numbers import format_decimal
from redis.exceptions import RedisError

from ckanext.dataclic.remote import HostPolicy, RemoteClient, RemoteLimits

from .catalogue import GreenSource, load_catalogue
from .config import allowed_hosts
from .estimates import BYTES, ERROR, FEATURES, IGNORED, NO_COUNT, TIMEOUT, TOO_MANY, Estimate
from .estimates import estimate_source as count_source

log = logging.getLogger(__name__)
PREFIX = "dataclic:estimate:"
UNKNOWN_KEEP_SECONDS = 300


@dataclass(frozen=True)
class Settings:
    timeout: float = 3.0  # seconds per request
    total: float = 10.0  # seconds for all the sources of a page
    workers: int = 8
    cache_seconds: int = 21600


def _number_option(name: str, default: float) -> float:
    try:
        value = float(tk.config.get(name) or default)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def settings() -> Settings:
    return Settings(
        timeout=_number_option("ckanext.dataclic.estimates.timeout", 3.0),
        total=_number_option("ckanext.dataclic.estimates.total_timeout", 10.0),
        workers=int(_number_option("ckanext.dataclic.estimates.workers", 8)),
        cache_seconds=int(_number_option("ckanext.dataclic.estimates.cache_seconds", 21600)))


# -- cache ---------------------------------------------------------------------------------------
def _key(entry: GreenSource, perimeter: Any) -> str:
    what = json.dumps([entry.harvester, entry.url, entry.config], sort_keys=True)
    digest = hashlib.sha1(what.encode()).hexdigest()[:16]
    return f"{PREFIX}{perimeter.id}:{perimeter.vintage}:{entry.name}:{digest}"


def _redis() -> Any:
    from ckan.lib.redis import connect_to_redis

    return connect_to_redis()


def _cached(keys: list[str]) -> list[Estimate | None]:
    try:
        values = _redis().mget(keys) if keys else []
    except (RedisError, OSError) as error:  # no Redis: estimate again, say why in the log
        log.warning("Size estimates: the cache cannot be read (%s)", error)
        return [None] * len(keys)
    found: list[Estimate | None] = []
    for value in values:
        try:
            found.append(Estimate.from_dict(json.loads(value)) if value else None)
        except (TypeError, ValueError):
            found.append(None)
    return found


def _keep(key: str, estimate: Estimate, seconds: int) -> None:
    if not estimate.known:
        seconds = min(seconds, UNKNOWN_KEEP_SECONDS)
    try:
        _redis().set(key, json.dumps(estimate.to_dict()), ex=max(1, seconds))
    except (RedisError, OSError) as error:
        log.warning("Size estimates: the cache cannot be written (%s)", error)


# -- counting -----------------------------------------------------------------------------------
def _count(entry: GreenSource, perimeter: Any, ref: Any, conf: Settings,
           deadline: float) -> Estimate:
    if not p.plugin_loaded(entry.harvester):
        return Estimate(reason=NO_COUNT, detail=f"the harvester {entry.harvester} is not enabled")
    harvester = p.get_plugin(entry.harvester)
    limits = RemoteLimits(connect_timeout=conf.timeout, read_timeout=conf.timeout,
                          deadline=conf.timeout, max_retries=0, max_bytes=8 * 1024 * 1024,
                          max_pages=2)
    client = RemoteClient(limits, HostPolicy(allowed_hosts()),
                          user_agent="ckanext-dataclic size estimate")
    try:
        return count_source(harvester, entry.url, entry.config_with({"perimeter": perimeter.id}),
                            perimeter, ref, client, deadline=deadline)
    finally:
        client.close()


def estimates_for(perimeter: Any, ref: Any, entries: list[GreenSource] | None = None, *,
                  cached_only: bool = False) -> dict[str, Estimate]:
    """Catalogue entry name → its estimate for ``perimeter``; with ``cached_only``, only the
    estimates the cache holds (no remote call)."""
    conf = settings()
    entries = load_catalogue() if entries is None else entries
    keys = [_key(e, perimeter) for e in entries]
    found = {e.name: hit for e, hit in zip(entries, _cached(keys)) if hit is not None}
    pending = [(e, k) for e, k in zip(entries, keys) if e.name not in found]
    if cached_only or not pending:
        return found
    try:  # the shape is computed once, here, rather than in every thread
        perimeter.geometry  # noqa: B018
    except Exception as error:  # noqa: BLE001 - the counts that need it will say unknown
        log.warning("Size estimates: no geometry for %s (%s)", perimeter.id, error)
    deadline = time.monotonic() + conf.total
    pool = ThreadPoolExecutor(max_workers=max(1, conf.workers),
                              thread_name_prefix="dataclic-estimate")
    try:
        futures = {pool.submit(_count, e, perimeter, ref, conf, deadline): (e, k)
                   for e, k in pending}
        done, _late = wait(futures, timeout=conf.total + conf.timeout)
        for future, (entry, key) in futures.items():
            if future in done:
                try:
                    estimate = future.result()
                except Exception as error:  # noqa: BLE001 - never an error page for it
                    estimate = Estimate(reason=ERROR, detail=f"{type(error).__name__}: {error}")
            else:
                estimate = Estimate(reason=TIMEOUT, detail=(
                    f"no answer within the {conf.total:g} s allowed for every estimate"))
            found[entry.name] = estimate
            _keep(key, estimate, conf.cache_seconds)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return found


# -- for people ---------------------------------------------------------------------------------
def _locale() -> str:
    try:
        language = tk.h.lang()
    except Exception:  # noqa: BLE001 - no request (command line)
        language = None
    if not language:
        from ckanext.dataclic.portal_language import default_locale

        language = default_locale()
    return str(language).replace("-", "_")


def _decimal(value: float, locale: str, pattern: str = "#,##0") -> str:
    try:
        return format_decimal(value, format=pattern, locale=locale)
    except (UnknownLocaleError, ValueError):  # an unknown locale: English digits
        return format_decimal(value, format=pattern, locale="en")


def size_text(value: int, locale: str) -> str:
    """``3 200 000`` bytes → ``3,2 Mo`` in French, ``3.2 MB`` in English (powers of 1000)."""
    if value >= 1_000_000_000:
        return tk._("{n} GB").format(n=_decimal(value / 1e9, locale, "#,##0.#"))
    if value >= 1_000_000:
        return tk._("{n} MB").format(n=_decimal(value / 1e6, locale, "#,##0.#"))
    if value >= 1_000:
        return tk._("{n} kB").format(n=_decimal(value / 1e3, locale, "#,##0.#"))
    return tk.ungettext("{n} byte", "{n} bytes", value).format(n=_decimal(value, locale))


def _reason(estimate: Estimate) -> str:
    conf = settings()
    texts = {
        TIMEOUT: tk._("The API did not answer in time ({seconds} s per request).").format(
            seconds=_decimal(conf.timeout, _locale(), "#,##0.#")),
        ERROR: tk._("The API answered with an error or could not be reached."),
        NO_COUNT: tk._("The API gives no count for this source."),
        TOO_MANY: tk._("Counting would take too many requests."),
        IGNORED: tk._("The API ignores the territorial filter: its count is not the "
                      "territory's."),
    }
    text = texts.get(estimate.reason, texts[ERROR])
    return f"{text} ({estimate.detail})" if estimate.detail else text


def describe(estimate: Estimate) -> dict[str, Any]:
    """What the page and the command show: ``label`` ("≈ 12 345 lignes", "inconnue") and
    ``title`` (how it was counted, or why it is unknown)."""
    locale = _locale()
    view = {"known": estimate.known, "value": estimate.value, "unit": estimate.unit}
    if not estimate.known:
        return {**view, "label": tk._("unknown"), "title": _reason(estimate)}
    value = int(estimate.value or 0)
    number = _decimal(value, locale)
    if estimate.unit == BYTES:
        text = size_text(value, locale)
        title = tk._("Size of the files downloaded whole, then cut to the territory.")
    elif estimate.unit == FEATURES:
        text = tk.ungettext("{n} feature", "{n} features", value).format(n=number)
        title = tk._("Features the API counts for the territory's filter (before the exact "
                     "local cut).")
    else:
        text = tk.ungettext("{n} row", "{n} rows", value).format(n=number)
        title = tk._("Rows the API counts for the territory's filter (before the local "
                     "check).")
    if estimate.partial:
        return {**view, "label": "\u2265 " + text,
                "title": title + " " + tk._("Some files give no size: this is a lower bound.")}
    return {**view, "label": "\u2248 " + text, "title": title}


def described(perimeter: Any, ref: Any, entries: list[GreenSource] | None = None, *,
              cached_only: bool = False) -> dict[str, dict[str, Any]]:
    return {name: describe(estimate) for name, estimate in
            estimates_for(perimeter, ref, entries, cached_only=cached_only).items()}
