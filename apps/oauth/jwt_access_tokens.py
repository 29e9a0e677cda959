"""JWT access tokens (RFC 9068) for the applications whose `access_token_format` is "jwt".

A JWT access token is signed with the key that signs id_tokens (DOT's OIDC_RSA_PRIVATE_KEY, under
the kid /oauth/jwks publishes it with), so a resource server elsewhere can check it without asking
Latch. Latch itself never reads its claims: it stores the token's digest like an opaque token's
(LatchOAuth2Validator._create_access_token) and finds it by that digest at its API, UserInfo,
introspection and revocation, so revoking one works as before. A resource server that checks the
signature only does not see a revocation until `exp`: keep those apps' lifetimes short.

The claims are built in one function, `access_token_claims`, which later features extend (token
exchange adds `act`); `sign` is separate. `issue` is what the token generator (apps/oauth/tokens.py)
calls for a token request. Personal claims (email, name) are never added: the scopes decide what an
app may learn about a member, and UserInfo is where it learns it.
"""

import secrets
import time

from oauth2_provider.settings import oauth2_settings

from apps.oauth import dpop_binding, signing
from apps.oauth.resource_metadata import API_PATH
from apps.oauth.validators import SignIn, request_state

# RFC 9068 §2.1: the media type `application/at+jwt`, which tells an access token from an id_token.
JWT_TYPE = "at+jwt"
JTI_BYTES = 16


def default_audience(issuer: str) -> str:
    """RFC 9068 §3: the resource a token is for when the request named none: Latch's API, the
    resource whose metadata is at /.well-known/oauth-protected-resource/api/v1."""
    return issuer + API_PATH


def access_token_claims(
    *,
    issuer: str,
    client_id: str,
    subject: str | None,
    scope: str,
    resources: list[str],
    issued_at: int,
    lifetime: int,
    sign_in: SignIn | None = None,
    jkt: str = "",
    actor: dict | None = None,
) -> dict[str, object]:
    """The claims of a JWT access token (RFC 9068 §2.2).

    `subject` is the member's `sub` (their public id, as in the id_token), None for an app's own
    token, whose `sub` is then its client_id (§2.2, client credentials). `resources` are the RFC 8707
    resources the token was issued for: `aud` is the one, or all of them, or `default_audience`.
    `sign_in` gives `auth_time`, `acr` and `amr` (§2.2.1) when the member's sign-in is known; `jkt`
    the DPoP key a bound token needs a proof by (RFC 9449 §6.1); `actor` who acts for the member
    in a token obtained by delegation (RFC 8693 §4.1 `act`, apps/oauth/token_exchange.py).
    """
    audience: str | list[str] = resources[0] if len(resources) == 1 else list(resources)
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": subject if subject is not None else client_id,
        "aud": audience or default_audience(issuer),
        "client_id": client_id,
        "scope": scope,
        "jti": secrets.token_urlsafe(JTI_BYTES),
        "iat": issued_at,
        "exp": issued_at + lifetime,
    }
    if subject is not None and sign_in is not None and sign_in != SignIn():
        claims.update(sign_in.claims())
    if jkt:
        claims["cnf"] = {"jkt": jkt}
    if actor:
        claims["act"] = actor
    return claims


def sign(claims: dict[str, object]) -> str:
    """`claims` as a compact JWS signed with the active signing key, header `typ: at+jwt`."""
    return signing.sign_jwt(claims, typ=JWT_TYPE)


def issue(request, *, resources: list[str]) -> str:
    """The JWT access token for an oauthlib token request that is about to be answered.

    Called from the token generator, after oauthlib has set `request.expires_in` (the app's
    lifetime) and the grant has set the user and scopes. The claims are kept on the request
    (LatchRequestState.access_token_claims), so the stored row gets the same `exp` and `jti`.
    """
    user = None if request.grant_type == "client_credentials" else request.user
    state = request_state(request)
    claims = access_token_claims(
        issuer=oauth2_settings.oidc_issuer(request),
        client_id=request.client.client_id,
        subject=str(user.public_id) if user is not None else None,
        scope=" ".join(request.scopes or ()),
        resources=resources,
        issued_at=int(time.time()),
        lifetime=int(request.expires_in),
        sign_in=state.sign_in,
        jkt=dpop_binding.access_token_jkt(),
        actor=state.actor,
    )
    state.access_token_claims = claims
    return sign(claims)
