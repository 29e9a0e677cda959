"""A DPoP client's side, for the tests: keys and proofs made with joserfc, not with what Latch uses
(jwcrypto), so the tests also show that two independent implementations agree."""

import base64
import hashlib
import json
import time
import uuid
import warnings
from typing import Any

from joserfc import jwk, jws
from joserfc.errors import SecurityWarning

from apps.dpop.nonces import current_nonce

TOKEN_URL = "http://testserver/oauth/token"
KEY_TYPES = {
    "ES256": ("EC", "P-256"),
    "RS256": ("RSA", 2048),
    "PS256": ("RSA", 2048),
    "EdDSA": ("OKP", "Ed25519"),
    "HS256": ("oct", 256),
}
_CURRENT = object()  # the server's current nonce, taken when the proof is made


def b64url(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def ath_of(access_token: str) -> str:
    return b64url(hashlib.sha256(access_token.encode()).digest())


class ProofKey:
    """A client's DPoP key pair; `proof()` signs a proof as RFC 9449 §4.2 describes it."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        key_type, size = KEY_TYPES[alg]
        self.key = jwk.generate_key(key_type, size)  # type: ignore[call-overload]

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def claims(
        self,
        method: str = "POST",
        url: str = TOKEN_URL,
        *,
        access_token: str | None = None,
        nonce: Any = _CURRENT,
        iat: float | None = None,
        jti: str | None = None,
    ) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "jti": jti or str(uuid.uuid4()),
            "htm": method,
            "htu": url,
            "iat": int(time.time() if iat is None else iat),
        }
        if access_token is not None:
            claims["ath"] = ath_of(access_token)
        if nonce is _CURRENT:
            nonce = current_nonce()
        if nonce is not None:
            claims["nonce"] = nonce
        return claims

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        protected = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk, **header}
        protected = {name: value for name, value in protected.items() if value is not None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # joserfc deprecates EdDSA (RFC 9864)
            return jws.serialize_compact(protected, json.dumps(claims), self.key, algorithms=[self.alg])

    def proof(self, method: str = "POST", url: str = TOKEN_URL, **kwargs: Any) -> str:
        return self.sign(self.claims(method, url, **kwargs))


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWS put together by hand, for what no library signs (alg none, a private jwk...)."""
    return ".".join([b64url(json.dumps(header)), b64url(json.dumps(claims)), b64url(signature)])
