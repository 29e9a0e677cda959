"""Server-provided DPoP nonces (RFC 9449 §8, §9), stateless and shared by every instance.

A nonce is an HMAC, keyed from SECRET_KEY, of the current time window
(settings.LATCH_DPOP_NONCE_SECONDS): every instance computes the same value without storing or
sharing anything, and it changes every window. The previous window's nonce is still accepted so
that a client which fetched a nonce just before a rotation is not refused on its very next request.
"""

import base64
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare, salted_hmac

_SALT = "latch.dpop.nonce"


def _window(now: float) -> int:
    return int(now // settings.LATCH_DPOP_NONCE_SECONDS)


def _nonce_of(window: int) -> str:
    digest = salted_hmac(_SALT, str(window), algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def current_nonce() -> str:
    """The nonce to hand out now, in a `DPoP-Nonce` header."""
    return _nonce_of(_window(time.time()))


def nonce_is_current(nonce: str) -> bool:
    """Whether `nonce` is this window's nonce or the previous one's."""
    window = _window(time.time())
    # Both compared, always: how long the answer takes says nothing about which one matched.
    matches = [constant_time_compare(nonce, _nonce_of(w)) for w in (window, window - 1)]
    return any(matches)


def nonce_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Every answer to a request that carried a DPoP proof names the current nonce (§8.2, §9):
    the token endpoint's and the resources', refusals included, so a client picks up each
    rotation without first being refused."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if settings.LATCH_DPOP_REQUIRE_NONCE and "HTTP_DPOP" in request.META:
            response["DPoP-Nonce"] = current_nonce()
        return response

    return middleware
