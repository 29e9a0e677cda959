"""The values and lifetimes of access and refresh tokens.

DOT's ACCESS_TOKEN_GENERATOR / REFRESH_TOKEN_GENERATOR name `access_token` and `random_token`;
apps/oauth/server.py gives oauthlib `access_token_lifetime` as its `token_expires_in`, which oauthlib
calls with the request before it makes the token (and sets `request.expires_in`).
"""

import secrets

from oauth2_provider.settings import oauth2_settings

from apps.oauth import jwt_access_tokens
from apps.oauth.validators import request_state

TOKEN_BYTES = 32
JWT_FORMAT = "jwt"


def random_token(request=None) -> str:
    """256 random bits, base64url (43 characters): an opaque bearer value, stored only as a digest.

    oauthlib's default draws 30 characters from a 62-character alphabet (letters and digits), one
    call of the operating system's random source per character (178 bits, 30 reads): 5% of a
    refresh's CPU.
    One call of `secrets` gives more entropy for a thirtieth of the reads.
    """
    return secrets.token_urlsafe(TOKEN_BYTES)


def access_token_lifetime(request) -> int:
    """Seconds an access token lives: the application's own lifetime, else the server's default
    (LATCH_ACCESS_TOKEN_SECONDS), never beyond the request's cap (an exchanged token's member token).
    The same for opaque and JWT tokens; the response's `expires_in`, the stored row's `expires` and
    a JWT's `exp` all come from it."""
    lifetime = (
        getattr(request.client, "access_token_lifetime", None) or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
    )
    cap = request_state(request).lifetime_cap
    return lifetime if cap is None else min(lifetime, cap)


def access_token(request) -> str:
    """A JWT (RFC 9068) for an application that asked for them, an opaque random token otherwise.

    The JWT's `aud` needs the token's RFC 8707 resources, which DOT settles only when it saves the
    token, after this: the validator settles them now (resolve_token_resources), the same way.
    """
    client = request.client
    if getattr(client, "access_token_format", "") != JWT_FORMAT:
        return random_token(request)
    validator = oauth2_settings.OAUTH2_VALIDATOR_CLASS()
    return jwt_access_tokens.issue(request, resources=validator.resolve_token_resources(request))
