"""RFC 7662 token introspection: what an authenticated client may learn about a token.

Who may learn what (RFC 7662 §2.2 leaves it to the server; §4 warns of token scanning): a client
learns about the tokens issued to it; only an application an administrator marked as a resource
server learns about every application's tokens. To anyone else another client's token is simply
inactive, so the answer does not even confirm that it exists.
"""

from django.utils import timezone
from oauth2_provider.models import refresh_token_expire_timedelta

from apps.core.precompiled import PrecompiledQuery
from apps.oauth import lookups
from apps.oauth.models import AccessToken, Application, RefreshToken
from apps.oauth.validators import token_checksum

INACTIVE = {"active": False}

# `username` is the member's email address: shown only when the token's scopes already reveal it.
USERNAME_SCOPES = frozenset({"email", "member-read"})


def _timestamp(moment) -> int:
    return int(moment.timestamp())


def _owner_claims(token, scope: str, issuer: str) -> dict:
    claims = {
        "scope": scope,
        "client_id": token.application.client_id,
        "iss": issuer,
    }
    if token.user is not None:
        claims["sub"] = str(token.user.public_id)
        if USERNAME_SCOPES & set(scope.split()):
            claims["username"] = token.user.email
    return claims


def _confirmation(jkt: str) -> dict:
    """RFC 9449 §6.2 (RFC 7800 `cnf`): the thumbprint of the key a bound token needs a proof by."""
    return {"cnf": {"jkt": jkt}} if jkt else {}


def _access_token_claims(token: AccessToken, issuer: str) -> dict:
    if token.is_expired() or (token.user is not None and not token.user.is_active):
        return INACTIVE
    return {
        "active": True,
        **_owner_claims(token, token.scope, issuer),
        "token_type": "DPoP" if token.jkt else "Bearer",
        "exp": _timestamp(token.expires),
        "iat": _timestamp(token.created),
        **({"aud": token.resource} if token.resource else {}),
        **({"jti": token.jti} if token.jti else {}),
        **_confirmation(token.jkt),
        # RFC 8693 §4.1: stored as the exact `act` object (apps/oauth/token_exchange.py).
        **({"act": token.actor} if token.actor else {}),
    }


def _refresh_token_claims(token: RefreshToken, issuer: str) -> dict:
    access_token = token.access_token
    if token.revoked is not None or access_token is None or not token.user.is_active:
        return INACTIVE
    claims = {
        "active": True,
        # The refresh token's own scope, not its access token's, which a refresh may have narrowed;
        # rows stored before refresh tokens had one have it empty.
        **_owner_claims(token, token.scope or access_token.scope, issuer),
        "iat": _timestamp(token.created),
        **_confirmation(token.jkt),
    }
    lifetime = refresh_token_expire_timedelta()
    if lifetime:
        expires = access_token.expires + lifetime
        if expires <= timezone.now():
            return INACTIVE
        claims["exp"] = _timestamp(expires)
    return claims


def may_learn_about(caller: Application, token: AccessToken | RefreshToken) -> bool:
    return caller.is_resource_server or token.application_id == caller.pk


def introspect(token_value: str, token_type_hint: str | None, issuer: str, caller: Application) -> dict:
    """The RFC 7662 response for a token, as `caller` (the authenticated client) may see it.

    Unknown, expired and revoked tokens, and tokens the caller may not learn about, are all just
    inactive.
    """
    checksum = token_checksum(token_value)
    order: list[PrecompiledQuery[AccessToken] | PrecompiledQuery[RefreshToken]] = [
        lookups.access_token_by_checksum,
        lookups.live_refresh_token_by_checksum,
    ]
    if token_type_hint == "refresh_token":
        order.reverse()
    for lookup in order:
        token = lookup.first(checksum)
        if token is not None and not may_learn_about(caller, token):
            return INACTIVE
        if isinstance(token, AccessToken):
            return _access_token_claims(token, issuer)
        if isinstance(token, RefreshToken):
            return _refresh_token_claims(token, issuer)
    return INACTIVE
