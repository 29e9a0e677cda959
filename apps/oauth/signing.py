"""Signing the JWTs Latch issues besides id_tokens (JWT access tokens, logout tokens).

They are signed like id_tokens: RS256 with the active signing key (DOT's OIDC_RSA_PRIVATE_KEY),
under the kid /oauth/jwks publishes it with, so a relying party verifies them all against one
JWKS. Each kind has its own `typ` so that none can pass for another (RFC 9068 §2.1, OIDC
Back-Channel Logout §2.4, RFC 8725 §3.11).
"""

import functools

from jwcrypto import jwk, jwt
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem

ALGORITHM = "RS256"


@functools.lru_cache(maxsize=4)
def _signing_key(pem: str) -> tuple[jwk.JWK, str]:
    """The key and its kid (RFC 7638 thumbprint, as DOT's JWKS names it); a thumbprint costs time."""
    key = jwk_from_pem(pem)
    return key, key.thumbprint()


def sign_jwt(claims: dict[str, object], *, typ: str) -> str:
    """`claims` as a compact JWS signed with the active signing key, with header `typ`."""
    key, kid = _signing_key(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
    token = jwt.JWT(header={"typ": typ, "alg": ALGORITHM, "kid": kid}, claims=claims)
    token.make_signed_token(key)
    return token.serialize()
