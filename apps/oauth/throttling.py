"""Throttling repeated client-authentication failures at the token, introspection and revocation endpoints.

Counters live in the shared cache (Redis in production, CACHE_URL), in fixed windows, so every
server process agrees and a block lifts by itself when the window ends.

- Per IP address: past the limit, every request from that address gets 429 until the window ends.
- Per client id: past the limit, *failed* attempts for that client get 429 instead of 401, but a
  request that authenticates still succeeds. Client ids are public, so blocking a client outright
  would let anyone lock a real app out; its secret (384 random bits) cannot be guessed anyway.
"""

import base64
import binascii
import hashlib
import math
import time
from dataclasses import dataclass
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from apps.accounts.ip import client_ip


@dataclass(frozen=True)
class Limit:
    failures: int
    window_seconds: int


def ip_limit() -> Limit:
    return Limit(settings.LATCH_CLIENT_AUTH_FAILURES_PER_IP, settings.LATCH_CLIENT_AUTH_FAILURE_WINDOW)


def client_limit() -> Limit:
    return Limit(settings.LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT, settings.LATCH_CLIENT_AUTH_FAILURE_WINDOW)


def presented_client_id(request: HttpRequest) -> str:
    """The client id a request claims, from HTTP Basic or the form body; "" when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote_plus(decoded.partition(":")[0])
    return request.POST.get("client_id", "")


def _key(kind: str, value: str, window: int, now: float) -> str:
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"latch:authfail:{kind}:{digest}:{int(now // window)}"


def _count(kind: str, value: str, limit: Limit, now: float) -> int:
    return cache.get(_key(kind, value, limit.window_seconds, now), 0)


def _retry_after(limit: Limit, now: float) -> int:
    return max(1, math.ceil(limit.window_seconds - now % limit.window_seconds))


def ip_blocked_for(request: HttpRequest) -> int | None:
    """Seconds until this address may try again, or None when it is not blocked."""
    limit, now = ip_limit(), time.time()
    if _count("ip", client_ip(request), limit, now) >= limit.failures:
        return _retry_after(limit, now)
    return None


def record_failure(request: HttpRequest) -> int | None:
    """Count a failed client authentication; seconds to wait when a limit is now exceeded."""
    now = time.time()
    exceeded = None
    for kind, value, limit in (
        ("ip", client_ip(request), ip_limit()),
        ("client", presented_client_id(request), client_limit()),
    ):
        if kind == "client" and not value:
            continue
        key = _key(kind, value, limit.window_seconds, now)
        # add() then incr() is atomic in Redis and in the local-memory cache.
        cache.add(key, 0, timeout=limit.window_seconds + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=limit.window_seconds + 1)
            count = 1
        if count > limit.failures:
            exceeded = max(exceeded or 0, _retry_after(limit, now))
    return exceeded
