"""The DPoP proof replay cache (RFC 9449 §11.1): each proof's `jti` is accepted once.

It lives in Django's cache, Redis in production, so every instance sees every other's proofs.
A proof is acceptable only while its `iat` is within the proof window of now, on either side, so
an entry must outlive the whole span in which its proof could still be accepted: twice the window
(clock-skew leeway included). The value is the key thumbprint with the `jti`: another key's proof
may use the same `jti`.
"""

from django.conf import settings

from apps.core import replay

# How far `iat` may be off beyond the proof window, for clients whose clocks drift a little.
CLOCK_SKEW_LEEWAY_SECONDS = 5


def acceptance_seconds() -> int:
    """How far `iat` may be from now, on either side, for a proof to be accepted."""
    return settings.LATCH_DPOP_PROOF_SECONDS + CLOCK_SKEW_LEEWAY_SECONDS


def first_use(jkt: str, jti: str) -> bool:
    """Record the proof (key, jti); False when it was recorded before (a replay).

    `cache.add` is atomic in Redis (SET NX): of two concurrent requests with one proof, only one
    sees True (apps/core/replay.py).
    """
    return replay.first_use("dpop", f"{jkt}\x00{jti}", timeout=2 * acceptance_seconds())
