"""Throttling repeated client-authentication failures at the token, introspection and revocation endpoints.

Counters live in the shared cache (Redis in production, CACHE_URL), in fixed windows, so every
server process agrees and a block lifts by itself when the window ends.

- Per IP address: past the limit, every request from that address gets 429 until the window ends.
- Per client id, for a secret Latch generated (384 random bits, apps/oauth/services.py, stored
  with apps/oauth/hashers.py's digest): past the limit, *failed* attempts for that client get 429
  instead of 401, but a request that authenticates still succeeds. Client ids are public, so
  blocking such a client outright would let anyone lock a real app out, and its secret cannot be
  guessed anyway.
- Per client id, for a private_key_jwt app (which accepts no secret, and whose key cannot be
  guessed): as for a generated secret. The client id of a request with a client assertion is the
  one the assertion claims.
- Per client id, for any other stored secret (one an older installation stored with DOT's PBKDF2
  hasher, chosen by a person and perhaps guessable): past the limit, *every* attempt gets 429, the
  right secret too, until the window ends. Otherwise a guesser would still learn from each attempt
  (401 wrong, 200 right). The price, a client that can be locked out by anyone for a window, ends
  with `manage.py rotate_client_secret`.
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
from apps.oauth import client_assertion, client_cache
from apps.oauth.hashers import is_generated_secret
from apps.oauth.models import Application


@dataclass(frozen=True)
class Limit:
    failures: int
    window_seconds: int


def ip_limit() -> Limit:
    return Limit(settings.LATCH_CLIENT_AUTH_FAILURES_PER_IP, settings.LATCH_CLIENT_AUTH_FAILURE_WINDOW)


def client_limit() -> Limit:
    return Limit(settings.LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT, settings.LATCH_CLIENT_AUTH_FAILURE_WINDOW)


def presented_client_id(request: HttpRequest) -> str:
    """The client id a request claims: from HTTP Basic, a client assertion's `sub` (unverified,
    apps/oauth/client_assertion.py), or the form body's client_id; "" when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote_plus(decoded.partition(":")[0])
    if assertion := request.POST.get("client_assertion"):
        return client_assertion.claimed_client_id(assertion) or request.POST.get("client_id", "")
    return request.POST.get("client_id", "")


def window_key(kind: str, value: str, window: int, now: float) -> str:
    """The cache key counting `kind` failures of `value` in the fixed window `now` falls in."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"latch:authfail:{kind}:{digest}:{int(now // window)}"


def retry_after(limit: Limit, now: float) -> int:
    return max(1, math.ceil(limit.window_seconds - now % limit.window_seconds))


def _has_guessable_secret(client_id: str) -> bool:
    """Whether the client's stored secret is not one Latch generated (see the module docstring)."""
    try:
        application = client_cache.application(client_id)
    except ValueError:  # an id the database cannot represent (a NUL byte): no such client
        return False
    # A private_key_jwt app accepts no secret at all: there is nothing to guess.
    return (
        application is not None
        and application.client_type == Application.CLIENT_CONFIDENTIAL
        and application.token_endpoint_auth_method != "private_key_jwt"
        and not is_generated_secret(application.client_secret)
    )


def blocked_for(request: HttpRequest) -> int | None:
    """Seconds until this request may be tried again, or None when it is not blocked.

    Blocked: the address is past its limit, or the client id is past its limit and its secret is
    guessable. One cache read for both counters; the client is read only once it is past its limit.
    """
    now = time.time()
    ip, client = ip_limit(), client_limit()
    client_id = presented_client_id(request)
    keys = {"ip": window_key("ip", client_ip(request), ip.window_seconds, now)}
    if client_id:
        keys["client"] = window_key("client", client_id, client.window_seconds, now)
    counts = client_cache.get_many(keys.values())  # the applications' generation in the same trip
    if counts.get(keys["ip"], 0) >= ip.failures:
        return retry_after(ip, now)
    if client_id and counts.get(keys["client"], 0) >= client.failures and _has_guessable_secret(client_id):
        return retry_after(client, now)
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
        count = count_failure(window_key(kind, value, limit.window_seconds, now), limit)
        if count > limit.failures:
            exceeded = max(exceeded or 0, retry_after(limit, now))
    return exceeded


def count_failure(key: str, limit: Limit) -> int:
    """One more failure under `key` (a window_key), for the rest of its window; the new count."""
    # add() then incr() is atomic in Redis and in the local-memory cache.
    cache.add(key, 0, timeout=limit.window_seconds + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=limit.window_seconds + 1)
        return 1
