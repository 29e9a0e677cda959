"""private_key_jwt clients for tests: keys, their JWKS, and client assertions signed with joserfc."""

import base64
import json
import time
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from apps.oauth.client_assertion import ASSERTION_TYPE
from tests.oauth.factories import ApplicationFactory

TOKEN_ENDPOINT_PATH = "/oauth/token"


@dataclass(frozen=True)
class ClientKey:
    key: RSAKey | ECKey | OKPKey
    alg: str

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def public(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    def private(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=True))


@cache
def client_key(kind: str = "rsa", kid: str = "key-1") -> ClientKey:
    """One key per (kind, kid) for the whole run: RSA keys are slow to generate."""
    parameters = {"kid": kid}
    if kind == "rsa":
        return ClientKey(RSAKey.generate_key(2048, parameters=parameters), "RS256")
    if kind == "ec":
        return ClientKey(ECKey.generate_key("P-256", parameters=parameters), "ES256")
    return ClientKey(OKPKey.generate_key("Ed25519", parameters=parameters), "EdDSA")


def jwks(*keys: ClientKey) -> dict[str, Any]:
    return {"keys": [key.public() for key in keys]}


def pkjwt_application(*keys: ClientKey, jwks_uri: str = "", **kwargs):
    """A confidential client_credentials app that authenticates with private_key_jwt only."""
    kwargs.setdefault("allowed_scopes", ["member-read", "checkout-read"])
    kwargs.setdefault("grant_type", "client_credentials")
    if kwargs["grant_type"] == "client_credentials":
        kwargs.setdefault("redirect_uris", [])
        kwargs.setdefault("post_logout_redirect_uris", [])
    return ApplicationFactory(
        token_endpoint_auth_method="private_key_jwt",
        jwks=None if jwks_uri else jwks(*(keys or (client_key(),))),
        jwks_uri=jwks_uri,
        **kwargs,
    )


def token_endpoint() -> str:
    return settings.LATCH_ISSUER + TOKEN_ENDPOINT_PATH


def claims_for(client_id: str, **overrides: Any) -> dict[str, Any]:
    """RFC 7523 §3's claims; an override of None leaves that claim out."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint(),
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(key: ClientKey, claims: dict[str, Any], **header: Any) -> str:
    protected = {"alg": key.alg, "kid": key.kid, **header}
    protected = {name: value for name, value in protected.items() if value is not None}
    return jwt.encode(protected, claims, key.key, algorithms=[protected["alg"]])


def assertion(application, key: ClientKey | None = None, **overrides: Any) -> str:
    return sign(key or client_key(), claims_for(application.client_id, **overrides))


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    """A JWT with `alg` and no signature (alg "none", RFC 7519 §6)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}."


def assertion_body(signed: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed, **extra}
