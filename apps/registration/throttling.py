"""Throttling wrong bearer tokens at /oauth/register and /oauth/register/<client_id>, per IP address.

Initial and registration access tokens are 256 random bits, so guessing one is hopeless; the limit
keeps a script from making Latch hash and look up tokens without end, and makes one visible in the
audit log (`throttled`). The counters are apps/oauth/throttling.py's fixed cache windows, so every
server process agrees and a block lifts by itself. Past the limit, no token is checked until the
window ends (the right one is refused too).
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from apps.accounts.ip import client_ip
from apps.oauth.throttling import Limit, count_failure, retry_after, window_key


def _counter(request: HttpRequest, now: float) -> tuple[str, Limit]:
    window = settings.LATCH_REGISTRATION_TOKEN_FAILURE_WINDOW
    limit = Limit(settings.LATCH_REGISTRATION_TOKEN_FAILURES_PER_IP, window)
    return window_key("registration-ip", client_ip(request), window, now), limit


def registration_blocked_for(request: HttpRequest) -> int | None:
    """Seconds until this address may present a token again, or None when it may now."""
    now = time.time()
    key, limit = _counter(request, now)
    return retry_after(limit, now) if cache.get(key, 0) >= limit.failures else None


def registration_token_failed(request: HttpRequest) -> None:
    key, limit = _counter(request, time.time())
    count_failure(key, limit)
