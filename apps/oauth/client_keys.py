"""The public keys a private_key_jwt client signs its assertions with (RFC 7523, OIDC Core §9).

An application registers them inline (`Application.jwks`) or at an https URL (`jwks_uri`). Either
way a set holds public asymmetric signing keys only: RSA of at least 2048 bits, EC on P-256, P-384
or P-521, OKP Ed25519. A private member or a symmetric ("oct") key refuses the whole set: a client
that publishes its private key has no key left to prove anything with.

A jwks_uri is fetched with `requests`: https only, no redirects, a short timeout, at most
LATCH_CLIENT_JWKS_MAX_BYTES read. The set is kept in the shared cache for
LATCH_CLIENT_JWKS_CACHE_SECONDS; a failed fetch is remembered for LATCH_CLIENT_JWKS_REFETCH_SECONDS
so that a client's unreachable server is not asked again on every request. A `kid` the cached set
does not have (the client rotated its keys) fetches again, at most once per
LATCH_CLIENT_JWKS_REFETCH_SECONDS: assertions with made-up kids cannot make Latch hammer the
client's server.
"""

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from jwcrypto import jwk
from jwcrypto.common import JWException

from apps.core import outbound
from apps.dpop.proofs import PRIVATE_KEY_MEMBERS

logger = logging.getLogger(__name__)

RSA_MIN_BITS = 2048
# Far above any real key; a larger one costs much to verify for nothing.
RSA_MAX_BITS = 8192
EC_CURVES = frozenset({"P-256", "P-384", "P-521"})
OKP_CURVES = frozenset({"Ed25519"})
# More keys than any client rotates through; each costs a verification attempt without a kid.
MAX_KEYS = 20
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})


class KeysUnavailable(Exception):
    """The client's keys could not be had (a failed or refused jwks_uri fetch); the reason is logged."""


def _public_key(members: Any, position: int) -> jwk.JWK:
    """One JWKS member as a public signing key; ValueError saying what is wrong with it."""
    where = f"Key {position + 1}"
    if not isinstance(members, dict):
        raise ValueError(f"{where} is not a JSON object.")
    kty = members.get("kty")
    if kty == "oct":
        raise ValueError(f"{where} is a symmetric (oct) key; only public asymmetric keys are accepted.")
    if PRIVATE_KEY_MEMBERS & set(members):
        raise ValueError(f"{where} holds private key material; register only the public key.")
    if kty not in ("RSA", "EC", "OKP"):
        raise ValueError(f"{where} has kty {kty!r}; use RSA, EC or OKP.")
    if members.get("use", "sig") != "sig":
        raise ValueError(f'{where} is not a signing key (use must be "sig" or absent).')
    if kty == "EC" and members.get("crv") not in EC_CURVES:
        raise ValueError(f"{where} is on curve {members.get('crv')!r}; use P-256, P-384 or P-521.")
    if kty == "OKP" and members.get("crv") not in OKP_CURVES:
        raise ValueError(f"{where} is on curve {members.get('crv')!r}; use Ed25519.")
    if "kid" in members and not isinstance(members["kid"], str):
        raise ValueError(f"{where} has a kid that is not a string.")
    try:
        key = jwk.JWK(**members)
        public_key = key.get_op_key("verify")  # a point off its curve fails here
    except (JWException, ValueError, TypeError) as exc:
        raise ValueError(f"{where} is not a valid public key.") from exc
    if kty == "RSA" and not RSA_MIN_BITS <= public_key.key_size <= RSA_MAX_BITS:
        raise ValueError(f"{where} is an RSA key of {public_key.key_size} bits; use {RSA_MIN_BITS} or more.")
    return key


def parse_jwks(value: Any) -> list[jwk.JWK]:
    """The keys of a JWKS (RFC 7517 §5), each checked as the module docstring says.

    ValueError with a message for a person when the set or any key in it is not acceptable.
    """
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise ValueError('A JWKS is a JSON object with a "keys" list.')
    members = value["keys"]
    if not members:
        raise ValueError("The JWKS has no keys.")
    if len(members) > MAX_KEYS:
        raise ValueError(f"The JWKS has more than {MAX_KEYS} keys.")
    keys = [_public_key(key, position) for position, key in enumerate(members)]
    kids = [key.get("kid") for key in keys if key.get("kid") is not None]
    if len(kids) != len(set(kids)):
        raise ValueError("Two keys in the JWKS have the same kid.")
    return keys


def jwks_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a jwks_uri; None when it can (an absolute https URL without credentials)."""
    parts = urlsplit(uri)
    if parts.scheme != "https" or not parts.hostname:
        return "The JWKS URI must be an absolute https URL."
    if parts.username or parts.password:
        return "The JWKS URI must not contain credentials."
    if parts.fragment:
        return "The JWKS URI must not have a fragment."
    return None


def validate_registration(application) -> None:
    """ValidationError (by field) when the application's client authentication settings are not
    usable; called by Application.clean(), so the admin, create_client and dynamic registration
    (full_clean) all get the same answer.

    Keys, when given, must be acceptable whatever the method (they may serve private_key_jwt
    later); private_key_jwt needs a confidential client and exactly one of jwks and jwks_uri.
    """
    errors: dict[str, list[str]] = {}
    if application.jwks is not None:
        try:
            parse_jwks(application.jwks)
        except ValueError as exc:
            errors.setdefault("jwks", []).append(str(exc))
    if application.jwks_uri and (problem := jwks_uri_problem(application.jwks_uri)):
        errors.setdefault("jwks_uri", []).append(problem)
    if application.jwks is not None and application.jwks_uri:
        errors.setdefault("jwks_uri", []).append("Give either a JWKS or a JWKS URI, not both.")
    method, confidential = application.token_endpoint_auth_method, application.CLIENT_CONFIDENTIAL
    if method in SECRET_METHODS and application.client_type != confidential:
        errors.setdefault("client_type", []).append(
            f"{method} needs a confidential client, which has a secret."
        )
    if method == "none" and application.client_type == confidential:
        errors.setdefault("token_endpoint_auth_method", []).append(
            '"none" is for a public client; a confidential one authenticates.'
        )
    if method == "private_key_jwt":
        if application.client_type != application.CLIENT_CONFIDENTIAL:
            errors.setdefault("client_type", []).append(
                "private_key_jwt authenticates a confidential client; a public one has no key to prove."
            )
        if application.jwks is None and not application.jwks_uri:
            errors.setdefault("jwks", []).append(
                "private_key_jwt needs the app's public keys: a JWKS or a JWKS URI."
            )
    if errors:
        raise ValidationError(errors)


# --- Fetching a jwks_uri ---------------------------------------------------------------------


def _cache_key(kind: str, uri: str) -> str:
    return f"latch:client-jwks:{kind}:{hashlib.sha256(uri.encode()).hexdigest()}"


def _download(uri: str) -> bytes:
    """The body at `uri`, read in chunks up to the size limit; KeysUnavailable on any failure."""
    limit = settings.LATCH_CLIENT_JWKS_MAX_BYTES
    try:
        with requests.get(
            uri,
            timeout=settings.LATCH_CLIENT_JWKS_FETCH_TIMEOUT,
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/jwk-set+json, application/json"},
        ) as response:
            if response.status_code != 200:
                raise KeysUnavailable(f"status {response.status_code}")
            body = b""
            for chunk in response.iter_content(chunk_size=8192):
                body += chunk
                if len(body) > limit:
                    raise KeysUnavailable(f"larger than {limit} bytes")
            return body
    except requests.RequestException as exc:
        raise KeysUnavailable(type(exc).__name__) from exc


def _fetch(uri: str, *, public_only: bool) -> list[dict]:
    """The JWKS members at `uri`, checked; the set is cached, a failure remembered for a while.

    `public_only`: the client registered the URI itself, so it may not lead inside the network
    (apps/core/outbound.py)."""
    try:
        if problem := jwks_uri_problem(uri):
            raise KeysUnavailable(problem)
        if public_only:
            try:
                outbound.require_public_destination(uri)
            except outbound.InternalDestination as exc:
                raise KeysUnavailable(str(exc)) from exc
        try:
            document = json.loads(_download(uri))
            parse_jwks(document)
        except (ValueError, UnicodeDecodeError) as exc:  # json's errors are ValueErrors
            raise KeysUnavailable(f"not an acceptable JWKS: {exc}") from exc
    except KeysUnavailable as exc:
        logger.warning("oauth.client_jwks_fetch_failed jwks_uri=%s reason=%s", uri, exc)
        cache.set(_cache_key("failed", uri), str(exc), timeout=settings.LATCH_CLIENT_JWKS_REFETCH_SECONDS)
        raise
    members = document["keys"]
    cache.set(_cache_key("set", uri), members, timeout=settings.LATCH_CLIENT_JWKS_CACHE_SECONDS)
    logger.info("oauth.client_jwks_fetched jwks_uri=%s keys=%d", uri, len(members))
    return members


def _remote_keys(uri: str, kid: str | None, *, public_only: bool) -> list[dict]:
    cached = cache.get(_cache_key("set", uri))
    if cached is None:
        if failure := cache.get(_cache_key("failed", uri)):
            raise KeysUnavailable(f"the last fetch failed ({failure})")
        # Counts as the fetch an unknown kid would otherwise repeat at once.
        cache.set(_cache_key("cooldown", uri), 1, timeout=settings.LATCH_CLIENT_JWKS_REFETCH_SECONDS)
        return _fetch(uri, public_only=public_only)
    if kid is not None and not any(member.get("kid") == kid for member in cached):
        # The client may have rotated its keys; `add` lets one request per cooldown fetch again.
        if cache.add(_cache_key("cooldown", uri), 1, timeout=settings.LATCH_CLIENT_JWKS_REFETCH_SECONDS):
            try:
                return _fetch(uri, public_only=public_only)
            except KeysUnavailable:
                return cached
    return cached


def signing_keys(application, kid: str | None) -> list[jwk.JWK]:
    """The application's keys that may have signed an assertion with `kid` (all of them when None).

    KeysUnavailable when its jwks_uri cannot be fetched. An inline set is read from the
    application (checked again: a row written around clean() must not smuggle in a bad key).
    """
    if application.jwks is not None:
        members: Iterable[dict] = (
            application.jwks.get("keys", []) if isinstance(application.jwks, dict) else []
        )
    elif application.jwks_uri:
        members = _remote_keys(application.jwks_uri, kid, public_only=outbound.self_registered(application))
    else:
        return []
    try:
        keys = parse_jwks({"keys": list(members)})
    except ValueError as exc:
        raise KeysUnavailable(str(exc)) from exc
    return [key for key in keys if kid is None or key.get("kid") == kid]
