"""private_key_jwt: a client authenticates with a JWT signed by its own key (RFC 7523 §2.2, §3;
RFC 7521 §4.2; OIDC Core §9).

The client sends `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
and `client_assertion`, a JWS that

- is signed with RS256, PS256, ES256, ES384, ES512 or EdDSA by a key of the client's registered JWKS
  (apps/oauth/client_keys.py), the one its `kid` names when it has one; never `none` or HS*:
  client_secret_jwt is not offered (it would need the secret in usable form);
- has `iss` = `sub` = the client_id;
- has an `aud` that is, or contains, Latch's issuer or its token endpoint URL, at every endpoint
  where clients authenticate; at the PAR endpoint its URL as well (RFC 9126 §2);
- has an `exp` that has not passed and is at most LATCH_CLIENT_ASSERTION_MAX_SECONDS away;
- has an `iat` and `nbf`, when present, not in the future (both with a few seconds of leeway);
- has a `jti` not seen before from this client: it is recorded in the shared replay cache
  (apps/core/replay.py) until the assertion expires, and only once every other check passed,
  so a refused assertion uses up nothing.

The JWS is verified by jwcrypto, as DPoP proofs are (apps/dpop/proofs.py).
"""

import json
import math
import re
import time
from typing import Any

from django.conf import settings
from django.urls import reverse
from jwcrypto import jws
from jwcrypto.common import JWException, base64url_decode

from apps.core import replay
from apps.oauth import client_keys

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# ES384 and ES512 because P-384 and P-521 keys may be registered (apps/oauth/client_keys.py).
SIGNING_ALGORITHMS: tuple[str, ...] = ("RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA")
# Which key type each algorithm needs (and for ES* the curve): a key of another type is never tried.
_KEY_TYPES = {
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", "Ed25519"),
}
# A compact JWS with a signature. An RSA-4096 signature with generous claims is under 2 kB.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_ASSERTION_LENGTH = 8192
MAX_JTI_LENGTH = 256
# For clocks that drift a little, on `exp`, `iat` and `nbf`.
CLOCK_SKEW_LEEWAY_SECONDS = 5
REPLAY_NAMESPACE = "client-assertion"


class InvalidAssertion(Exception):
    """The assertion does not authenticate the client; the message says why (for the log only:
    the client is answered a plain invalid_client, RFC 6749 §5.2)."""


def _segments(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the claims, not yet verified; InvalidAssertion for anything not a compact JWS."""
    if len(assertion) > MAX_ASSERTION_LENGTH or not _COMPACT_JWS.fullmatch(assertion):
        raise InvalidAssertion("not a compact JWS")
    header_part, payload_part, _signature = assertion.split(".")
    try:
        header = json.loads(base64url_decode(header_part))
        claims = json.loads(base64url_decode(payload_part))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidAssertion("not a JWT") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidAssertion("not a JWT")
    return header, claims


def claimed_client_id(assertion: str) -> str:
    """The client an assertion claims to come from (`sub`, else `iss`), unverified; "" if unreadable.

    For finding the application whose keys verify it, and for counting failures per client
    (apps/oauth/throttling.py); never a proof of anything.
    """
    try:
        _header, claims = _segments(assertion)
    except InvalidAssertion:
        return ""
    value = claims.get("sub", claims.get("iss"))
    return value if isinstance(value, str) else ""


def audiences(issuer: str, path: str) -> set[str]:
    """The `aud` values accepted at the endpoint `path`: the issuer and the token endpoint URL
    everywhere; the PAR endpoint URL at the PAR endpoint (RFC 9126 §2)."""
    accepted = {issuer, issuer + reverse("oauth2_provider:token")}
    par = reverse("oauth2_provider:pushed-authorization-request")
    if path == par:
        accepted.add(issuer + par)
    return accepted


def _number(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate (RFC 7519 §2); JSON may also spell NaN, Infinity and numbers past a float."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidAssertion(f"{name} is not a number")
    try:
        number = float(value)
    except OverflowError as exc:
        raise InvalidAssertion(f"{name} is out of range") from exc
    if not math.isfinite(number):
        raise InvalidAssertion(f"{name} is out of range")
    return number


def _check_times(claims: dict[str, Any], now: float) -> float:
    """`exp` (required), `iat` and `nbf` (when present) against now; returns exp."""
    exp = _number(claims, "exp")
    if exp is None:
        raise InvalidAssertion("no exp")
    if exp + CLOCK_SKEW_LEEWAY_SECONDS <= now:
        raise InvalidAssertion("expired")
    if exp - now > settings.LATCH_CLIENT_ASSERTION_MAX_SECONDS:
        raise InvalidAssertion("exp too far in the future")
    for name in ("iat", "nbf"):
        moment = _number(claims, name)
        if moment is not None and moment > now + CLOCK_SKEW_LEEWAY_SECONDS:
            raise InvalidAssertion(f"{name} in the future")
    return exp


def _verified(assertion: str, header: dict[str, Any], application) -> None:
    """The signature, by a key of the application's that fits `alg` (and `kid` when named)."""
    if "crit" in header or "b64" in header:
        # RFC 7515 §4.1.11, RFC 7797: extensions that change what is signed; no client needs them.
        raise InvalidAssertion("crit and b64 headers are not accepted")
    alg = header.get("alg")
    if alg not in SIGNING_ALGORITHMS:
        raise InvalidAssertion(f"alg {alg!r} is not accepted")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidAssertion("kid is not a string")
    try:
        keys = client_keys.signing_keys(application, kid)
    except client_keys.KeysUnavailable as exc:
        raise InvalidAssertion(f"the client's keys are unavailable: {exc}") from exc
    kty, crv = _KEY_TYPES[alg]
    # A key that names its `alg` (RFC 7517 §4.4) is used with that algorithm only.
    candidates = [
        key
        for key in keys
        if key.get("kty") == kty and (crv is None or key.get("crv") == crv) and key.get("alg", alg) == alg
    ]
    if not candidates:
        raise InvalidAssertion("no registered key fits the assertion's kid and alg")
    token = jws.JWS()
    try:
        token.deserialize(assertion)
    except (JWException, ValueError, TypeError) as exc:
        raise InvalidAssertion("not a JWS") from exc
    token.allowed_algs = [alg]
    for key in candidates:
        try:
            token.verify(key, alg=alg)
        except (JWException, ValueError, TypeError):
            continue
        return
    raise InvalidAssertion("the signature does not verify with the client's keys")


def verify(assertion: str, application, *, accepted_audiences: set[str]) -> None:
    """Every check of the module docstring for `application`; InvalidAssertion on the first failure.

    The replay check comes last: only an assertion that passed every other check is recorded.
    """
    header, claims = _segments(assertion)
    if claims.get("iss") != application.client_id or claims.get("sub") != application.client_id:
        raise InvalidAssertion("iss and sub must both be the client_id")
    aud = claims.get("aud")
    aud_values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(value, str) and value in accepted_audiences for value in aud_values):
        raise InvalidAssertion("aud names neither the issuer nor the endpoint")
    now = time.time()
    exp = _check_times(claims, now)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidAssertion(f"no jti, or one longer than {MAX_JTI_LENGTH} characters")
    _verified(assertion, header, application)
    # Remembered for as long as the assertion could still be accepted.
    remember = int(exp - now) + CLOCK_SKEW_LEEWAY_SECONDS + 1
    if not replay.first_use(REPLAY_NAMESPACE, f"{application.client_id}\x00{jti}", timeout=remember):
        raise InvalidAssertion("the jti was used before")
