"""Who asks for an extraction, and whether an anonymous client may start a new one now.

The client is the remote address of the request, or the address forwarded in
``X-Forwarded-For`` when (and only when) the request comes from one of the configured
``trusted_proxies``. New extractions of anonymous clients are rate limited over a sliding
window kept in Redis (one sorted set per client); answers from the cache never count.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(trusted: Iterable[str]) -> list[Network]:
    networks = []
    for item in trusted:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            log.warning("ckanext.dataclic.extract.trusted_proxies: %r is not an address or "
                        "network; ignored", item)
    return networks


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(remote_addr: str | None, forwarded_for: str | None,
                   trusted: Iterable[str]) -> str:
    """The address of the client: ``remote_addr``, or when that is a trusted proxy, the
    right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy."""
    remote = (remote_addr or "").strip()
    networks = _networks(trusted)

    def is_trusted(text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in net for net in networks)

    if not networks or not is_trusted(remote) or not forwarded_for:
        return remote
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:
            return remote  # a malformed chain: trust nothing in it
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else remote


def client_key(address: str) -> str:
    """What is stored for a client: a digest, not the address itself."""
    return hashlib.sha256(address.encode()).hexdigest()[:32]


# KEYS[1]: the client's sorted set; ARGV: now, window, limit, member.
# Returns -1 when admitted (and counted), else the seconds until a slot frees.
_ADMIT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('EXPIRE', key, math.ceil(window) + 1)
return '-1'
"""


@dataclass(frozen=True)
class Refusal:
    """A client over its rate: ``wait`` seconds until it may start a new extraction."""
    limit: int
    window: int
    wait: int


def rate_key(client: str) -> str:
    from ckan.plugins import toolkit as tk

    site = tk.config.get("ckan.site_id") or "default"
    return f"dataclic:{site}:extract-rate:{client}"


def admit(client: str, limit: int, window: int, *, connection=None) -> Refusal | None:
    """Count one new extraction of ``client``; a :class:`Refusal` when it is over ``limit``
    new extractions in the last ``window`` seconds (nothing is counted then). Without Redis
    the request is let through: the in-progress cap and the storage cap still hold."""
    if limit <= 0 or window <= 0:
        return None
    from redis.exceptions import RedisError

    try:
        if connection is None:
            from ckan.lib.redis import connect_to_redis

            connection = connect_to_redis()
        answer = connection.eval(_ADMIT, 1, rate_key(client), repr(time.time()), window,
                                 limit, secrets.token_hex(8))
    except RedisError:
        log.warning("Rate limit of anonymous extractions skipped: Redis is unreachable",
                    exc_info=True)
        return None
    wait = float(answer.decode() if isinstance(answer, bytes) else answer)
    if wait < 0:
        return None
    return Refusal(limit=limit, window=window, wait=max(1, math.ceil(wait)))


def forget(client: str, *, connection=None) -> None:
    """Drop a client's counts (tests, or an administrator lifting a limit)."""
    if connection is None:
        from ckan.lib.redis import connect_to_redis

        connection = connect_to_redis()
    connection.delete(rate_key(client))
