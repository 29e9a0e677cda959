"""The DPoP proof replay cache (RFC 9449 §11.1): each proof's `jti` is accepted once.

It lives in Django's cache, Redis in production, so every instance sees every other's proofs.
A proof is acceptable only while its `iat` is within the proof window of now, on either side, so
an entry must outlive the whole span in which its proof could still be accepted: twice the window
(clock-skew leeway included). The key is a digest of the key thumbprint and the `jti`: a client
chooses its `jti`, and a digest keeps cache keys short and free of anything it sent.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

# How far `iat` may be off beyond the proof window, for clients whose clocks drift a little.
CLOCK_SKEW_LEEWAY_SECONDS = 5


def acceptance_seconds() -> int:
    """How far `iat` may be from now, on either side, for a proof to be accepted."""
    return settings.LATCH_DPOP_PROOF_SECONDS + CLOCK_SKEW_LEEWAY_SECONDS


def _cache_key(jkt: str, jti: str) -> str:
    digest = hashlib.sha256(f"{jkt}\x00{jti}".encode()).hexdigest()
    return f"dpop:jti:{digest}"


def first_use(jkt: str, jti: str) -> bool:
    """Record the proof (key, jti); False when it was recorded before (a replay).

    `cache.add` is atomic in Redis (SET NX): of two concurrent requests with one proof, only one
    sees True.
    """
    return cache.add(_cache_key(jkt, jti), 1, timeout=2 * acceptance_seconds())
