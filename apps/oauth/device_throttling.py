"""Throttling wrong user codes at /oauth/device, per browser session and per IP address.

A user code has about 34.6 bits (apps/oauth/device.py) and lives LATCH_DEVICE_CODE_SECONDS: without
a limit, a script signed in to any account could try codes until it found a device waiting for
its member's answer, and approve that device for itself. Past either limit, the page checks no
code until the window ends (the right one is refused too, or a guesser would still learn from
each attempt). The counters are apps/oauth/throttling.py's fixed cache windows, so every server
process agrees and a block lifts by itself.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from apps.accounts.ip import client_ip
from apps.oauth.throttling import Limit, count_failure, retry_after, window_key


def _counters(request: HttpRequest, now: float) -> list[tuple[str, Limit]]:
    """(cache key, limit) of the IP address's counter and the session's."""
    window = settings.LATCH_USER_CODE_FAILURE_WINDOW
    per_ip = Limit(settings.LATCH_USER_CODE_FAILURES_PER_IP, window)
    per_session = Limit(settings.LATCH_USER_CODE_FAILURES_PER_SESSION, window)
    return [
        (window_key("user-code-ip", client_ip(request), window, now), per_ip),
        (window_key("user-code-session", request.session.session_key or "", window, now), per_session),
    ]


def user_code_blocked_for(request: HttpRequest) -> int | None:
    """Seconds until this browser may type a code again, or None when it may now."""
    now = time.time()
    counters = _counters(request, now)
    counts = cache.get_many([key for key, _limit in counters])
    waits = [retry_after(limit, now) for key, limit in counters if counts.get(key, 0) >= limit.failures]
    return max(waits, default=None)


def user_code_failed(request: HttpRequest) -> None:
    """Count a wrong code against the IP address and the session."""
    for key, limit in _counters(request, time.time()):
        count_failure(key, limit)
