"""The one HTTP client every dataclic harvester uses.

Plain Python (no CKAN import). Every call has connect and read timeouts and an overall
deadline, retries with exponential backoff on 429/5xx and connection errors (bounded, honouring
``Retry-After``), streams the body with a size cap, refuses loopback/private/link-local
addresses unless the host is allowlisted, and pages with a page cap and loop detection.
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from ckanext.dataclic.extract.errors import N_, message_detail, render_detail
from ckanext.dataclic.server_words import ogc_exception_text, server_words

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
ERROR_BODY_BYTES = 64 * 1024
# The HTTP reason phrases of the answers an error message quotes, marked for the message
# catalogue: a reader sees them in their language ("{status} {reason}"); others stay as sent.
HTTP_REASONS = (N_("Bad Request"), N_("Unauthorized"), N_("Forbidden"), N_("Not Found"),
                N_("Method Not Allowed"), N_("Gone"), N_("Too Many Requests"),
                N_("Internal Server Error"), N_("Bad Gateway"), N_("Service Unavailable"),
                N_("Gateway Timeout"), N_("error"))


class RemoteError(Exception):
    """A remote call that failed; carries the URL and HTTP status for the object error.

    ``reason`` is English; given with ``values``, it is a template (marked with ``N_``) that
    :meth:`detail` hands to a caller which shows it in another language
    (``ckanext.dataclic.extract.errors.render_detail``).
    """

    def __init__(self, url: str, reason: str, status: int | None = None, /, *,
                 translated_values: tuple[str, ...] = (), **values: Any) -> None:
        self.url = url
        self.status = status
        self._reason = message_detail(reason, values, translated_values)
        self.reason = render_detail(self._reason)
        super().__init__(self.describe())

    def detail(self) -> dict[str, Any]:
        """The reason (without the URL) as a template and its values."""
        return dict(self._reason)

    def describe(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no HTTP status"
        return f"{self.url} ({status}): {self.reason}"

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class RemoteLimits:
    """Bounds on a remote call; harvest source configs may tighten or loosen them."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    deadline: float = 600.0
    max_retries: int = 3
    backoff: float = 1.0
    max_wait: float = 60.0
    max_bytes: int = 50 * 1024 * 1024
    max_pages: int = 500


@dataclass
class HostPolicy:
    """Which hosts may be called. Non-public addresses need an explicit allowlist entry
    (``option``: the setting that holds it, named in the refusal)."""

    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    option: str = "ckanext.dataclic.harvest.allowed_hosts"

    def check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise RemoteError(url, N_("only http and https URLs are allowed, not {scheme}"),
                              scheme=repr(parts.scheme))
        host = (parts.hostname or "").lower()
        if not host:
            raise RemoteError(url, N_("the URL has no host"))
        if host in self.allowed_hosts:
            return
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise RemoteError(url, N_("the host {host} cannot be resolved ({reason})"),
                              host=repr(host), reason=exc) from exc
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            if not address.is_global:
                raise RemoteError(
                    url, N_("the host {host} resolves to a non-public address ({address}); "
                            "add it to {option} to allow it"),
                    host=repr(host), address=address, option=self.option,
                )


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def full_url(url: str, params: dict[str, Any] | None = None) -> str:
    if not params:
        return url
    joiner = "&" if urlsplit(url).query else "?"
    return url + joiner + urlencode(params, doseq=True)


class RemoteClient:
    """Streams remote documents under :class:`RemoteLimits` and a :class:`HostPolicy`."""

    def __init__(
        self,
        limits: RemoteLimits | None = None,
        policy: HostPolicy | None = None,
        *,
        user_agent: str = "ckanext-dataclic harvester",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits or RemoteLimits()
        self.policy = policy or HostPolicy()
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.trust_env = False
        self.calls = 0

    def close(self) -> None:
        self.session.close()

    # -- low level ---------------------------------------------------------------------------
    def _open(self, url: str, headers: dict[str, str] | None = None) -> requests.Response:
        """GET with retries and manually followed (and host-checked) redirects."""
        limits = self.limits
        attempt = 0
        current = url
        redirects = 0
        while True:
            self.policy.check(current)
            self.calls += 1
            try:
                response = self.session.get(
                    current,
                    headers=headers,
                    stream=True,
                    allow_redirects=False,
                    timeout=(limits.connect_timeout, limits.read_timeout),
                )
            except requests.Timeout as exc:
                error = RemoteError(current, N_("timed out after {seconds} s ({reason})"),
                                    seconds=f"{limits.read_timeout:g}", reason=exc)
                wait = None
            except requests.RequestException as exc:
                error = RemoteError(current, N_("connection failed ({reason})"),
                                    reason=type(exc).__name__)
                wait = None
            else:
                status = response.status_code
                if status in REDIRECT_STATUSES and "location" in response.headers:
                    response.close()
                    redirects += 1
                    if redirects > MAX_REDIRECTS:
                        raise RemoteError(current, N_("too many redirects"), status)
                    target = urljoin(current, response.headers["location"])
                    try:
                        self.policy.check(target)
                    except RemoteError as exc:
                        raise RemoteError(
                            current, N_("redirected to {target}, which is refused: {reason}"),
                            status, target=target, reason=exc,
                        ) from None
                    current = target
                    continue
                if status < 400:
                    return response
                words = server_words(self._error_body(response))
                answered = {"status": status, "reason": response.reason or "error"}
                if words:
                    error = RemoteError(current, N_("the server answered {status} {reason}: "
                                                    "{words}"), status, words=words,
                                        translated_values=("reason",), **answered)
                else:
                    error = RemoteError(current, N_("the server answered {status} {reason}"),
                                        status, translated_values=("reason",), **answered)
                if status not in RETRY_STATUSES:
                    raise error
                wait = _retry_after_seconds(response.headers.get("retry-after"))
                if wait is not None and wait > limits.max_wait:
                    raise RemoteError(
                        current,
                        N_("the server asked to retry after {wait} s, more than the "
                           "{allowed} s allowed"),
                        status, wait=f"{wait:.0f}", allowed=f"{limits.max_wait:g}",
                    )
            if attempt >= limits.max_retries:
                raise RemoteError(error.url, N_("{reason} (gave up after {attempts} attempts)"),
                                  error.status, reason=error, attempts=attempt + 1)
            if wait is None:
                wait = min(limits.max_wait, limits.backoff * (2**attempt))
            attempt += 1
            self.sleep(wait)

    @staticmethod
    def _error_body(response: requests.Response) -> bytes:
        """The first bytes of an error answer (enough for its message), then close it."""
        body = b""
        try:
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) >= ERROR_BODY_BYTES:
                    break
        except requests.RequestException:
            pass
        finally:
            response.close()
        return body[:ERROR_BODY_BYTES]

    def _chunks(self, response: requests.Response, url: str, max_bytes: int) -> Iterator[bytes]:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            response.close()
            raise RemoteError(
                url, N_("the document is {size} bytes, over the {cap} byte cap"),
                response.status_code, size=int(declared), cap=max_bytes,
            )
        started = time.monotonic()
        size = 0
        try:
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise RemoteError(
                        url, N_("the document is over the {cap} byte cap"),
                        response.status_code, cap=max_bytes,
                    )
                if time.monotonic() - started > self.limits.deadline:
                    raise RemoteError(
                        url, N_("the download took over {seconds} s"),
                        response.status_code, seconds=f"{self.limits.deadline:g}",
                    )
                yield chunk
        except requests.RequestException as exc:
            raise RemoteError(
                url, N_("the transfer failed ({reason})"), response.status_code,
                reason=type(exc).__name__,
            ) from exc
        finally:
            response.close()

    # -- public --------------------------------------------------------------------------------
    def get_bytes(
        self, url: str, params: dict[str, Any] | None = None, *, max_bytes: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        return self.get_with_headers(url, params, max_bytes=max_bytes, headers=headers)[0]

    def get_with_headers(
        self, url: str, params: dict[str, Any] | None = None, *, max_bytes: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and the response headers (lower-case names): for APIs that page in a
        ``Link`` header."""
        target = full_url(url, params)
        cap = max_bytes or self.limits.max_bytes
        response = self._open(target, headers)
        answered = {k.lower(): v for k, v in response.headers.items()}
        return b"".join(self._chunks(response, target, cap)), answered

    def post_form(
        self, url: str, params: dict[str, Any] | None, form: dict[str, str], *,
        max_bytes: int | None = None, headers: dict[str, str] | None = None,
    ) -> bytes:
        """POST ``form`` (URL-encoded) to ``url?params`` once (no retry, no redirect): for
        filters too long for a URL (a WFS ``cql_filter``). Same host policy, timeouts and
        size cap as a GET; the answer's bytes."""
        target = full_url(url, params)
        self.policy.check(target)
        limits = self.limits
        try:
            response = self.session.post(
                target, data=urlencode(form), stream=True, allow_redirects=False,
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         **(headers or {})},
                timeout=(limits.connect_timeout, limits.read_timeout))
        except requests.RequestException as exc:
            raise RemoteError(target, N_("connection failed ({reason})"),
                              reason=type(exc).__name__) from exc
        if response.status_code >= 300:
            response.close()
            raise RemoteError(target, N_("the server answered {status} {reason}"),
                              response.status_code, status=response.status_code,
                              reason=response.reason or "error",
                              translated_values=("reason",))
        return b"".join(self._chunks(response, target, max_bytes or limits.max_bytes))

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        target = full_url(url, params)
        body = self.get_bytes(url, params, headers={"Accept": "application/json"})
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            words = ogc_exception_text(body)
            if words:  # OGC services answer their errors in XML, often with HTTP 200
                raise RemoteError(target, N_("the service answered an OGC exception: {words}"),
                                  200, words=words) from None
            raise RemoteError(target, N_("the answer is not valid JSON ({reason})"), 200,
                              reason=exc) from exc

    def download(
        self, url: str, dest: Path, params: dict[str, Any] | None = None,
        *, max_bytes: int | None = None,
    ) -> tuple[int, str]:
        """Stream to ``dest`` atomically; return (size, sha256). No partial file is left."""
        target = full_url(url, params)
        cap = max_bytes or self.limits.max_bytes
        partial = dest.with_name(dest.name + ".part")
        digest = hashlib.sha256()
        size = 0
        response = self._open(target)
        try:
            with open(partial, "wb") as out:
                for chunk in self._chunks(response, target, cap):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            os.replace(partial, dest)
        finally:
            if partial.exists():
                partial.unlink()
        return size, digest.hexdigest()

    def iter_pages(
        self,
        url: str,
        params: dict[str, Any] | None,
        next_page: Callable[[Any, str], str | dict[str, Any] | None],
        *,
        max_pages: int | None = None,
    ) -> Iterator[Any]:
        """Yield JSON pages. ``next_page(payload, current_url)`` gives the next URL, or new
        params for the same base URL, or None. A page seen twice is a loop and an error."""
        cap = max_pages or self.limits.max_pages
        seen: set[str] = set()
        current = full_url(url, params)
        pages = 0
        while current:
            if current in seen:
                raise RemoteError(current, N_("paging loops back to a page already read"))
            seen.add(current)
            pages += 1
            if pages > cap:
                raise RemoteError(current, N_("more than {cap} pages; raise max_pages to read more"),
                                  cap=cap)
            payload = self.get_json(current)
            yield payload
            following = next_page(payload, current)
            if following is None:
                return
            current = full_url(url, following) if isinstance(following, dict) else urljoin(
                current, following
            )
