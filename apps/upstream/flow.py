"""The authorization code flow towards an upstream provider, for signing in, linking and connecting.

`begin()` makes the redirect to the provider and remembers what it asked for in this browser's
session; `finish()` takes the provider's answer at the callback, checks it against what was
remembered, exchanges the code and reads who the member is there. Both only read and call the
provider: what to do with the result (sign in, link, store tokens) is apps/upstream/services.py's.

- `state` (RFC 6749 §10.12) is 32 random bytes, kept in the session that started the flow: single
  use (taken out of the session whether the answer is good or not), bound to that browser (a state
  from another session is simply unknown here), and it expires after STATE_MAX_AGE.
- `nonce` (OIDC Core §3.1.2.1) is checked against the id_token, which also proves that the token
  was issued for this very request.
- PKCE S256 (RFC 7636) where the provider's `use_pkce` is on: the verifier stays in the session.
- A fresh authentication (a signed-in member signing in again) asks an OIDC provider for
  `prompt=login` and `max_age=0` and requires the id_token's `auth_time` to be no older than the
  request (OIDC Core §3.1.2.1, §3.1.3.7 item 13): otherwise the provider's own session would
  answer silently, and the sign-in would be fresh in name only.

Every way it can go wrong raises FlowError with a `reason` for the audit log and a sentence for
the member; nothing has been changed by then.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from apps.upstream import client
from apps.upstream.models import UpstreamProvider

logger = logging.getLogger(__name__)
Fail = Callable[[str, str], "FlowError"]

PENDING = "_latch_upstream_pending"  # session key: {state: Pending as a dict}
STATE_MAX_AGE = 600  # seconds between leaving for the provider and coming back
MAX_PENDING = 5  # flows one browser may have open at once (tabs); the oldest go first
# Clock skew allowed on the id_token's exp / iat.
LEEWAY = 60
# What Latch accepts as id_token signatures: asymmetric only (an HS256 token would be signed with
# the client secret, which Latch shares with the provider).
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


class Purpose:
    SIGN_IN = "sign_in"  # sign in to Latch (nobody signed in yet)
    LINK = "link"  # a signed-in member adds this provider as a way to sign in
    CONNECT = "connect"  # a signed-in member connects an account for apps (the vault)


class FlowError(Exception):
    """The flow failed; `reason` is for the audit log, `message` for the member."""

    def __init__(self, reason: str, message: str, *, provider: str = "", purpose: str = "") -> None:
        self.reason = reason
        self.message = message
        self.provider = provider
        self.purpose = purpose
        super().__init__(f"{reason}: {message}")


@dataclass(frozen=True)
class Pending:
    """What Latch asked the provider for, kept in the session until the provider answers."""

    provider: str
    purpose: str
    scopes: list[str]
    nonce: str
    code_verifier: str
    created: float
    next: str = ""
    user: str = ""  # for link and connect: the member who started it (their pk)
    fresh_authentication: bool = False  # the id_token must show an authentication after `created`

    @classmethod
    def from_session(cls, value: object) -> "Pending | None":
        try:
            return cls(**value) if isinstance(value, dict) else None
        except TypeError:
            return None


@dataclass(frozen=True)
class Result:
    """What came back: who the member is at the provider, and the provider's token response."""

    pending: Pending
    subject: str
    claims: dict[str, Any]
    token: dict[str, Any] = field(repr=False)

    @property
    def email(self) -> str:
        email = self.claims.get("email")
        return email if isinstance(email, str) else ""

    @property
    def email_verified(self) -> bool:
        # OIDC Core §5.1: a boolean; some providers send the string "true".
        return self.claims.get("email_verified") in (True, "true")

    @property
    def account(self) -> str:
        """How the member recognises the account: "Name (email)", either alone, or the subject."""
        name, email = (self.claims.get(claim) for claim in ("name", "email"))
        name, email = (value if isinstance(value, str) else "" for value in (name, email))
        if name and email:
            return f"{name} ({email})"
        return name or email or self.subject

    @property
    def granted_scopes(self) -> list[str]:
        """RFC 6749 §5.1: `scope` is left out when the provider granted exactly what was asked."""
        scope = self.token.get("scope")
        if isinstance(scope, str):
            return list(dict.fromkeys(scope.split()))
        if isinstance(scope, list):
            return [s for s in scope if isinstance(s, str)]
        return list(self.pending.scopes)


def callback_url(request: HttpRequest, provider: UpstreamProvider) -> str:
    """The redirect URI to register at the provider: one per provider, for every purpose."""
    return request.build_absolute_uri(reverse("upstream:callback", args=[provider.slug]))


def _pending(request: HttpRequest) -> dict[str, Any]:
    value = request.session.get(PENDING)
    return value if isinstance(value, dict) else {}


def begin(
    request: HttpRequest,
    provider: UpstreamProvider,
    *,
    purpose: str,
    scopes: list[str],
    next_url: str = "",
    fresh_authentication: bool = False,
) -> str:
    """The provider's authorization URL for `scopes`; what checks the answer is kept in the session.

    `fresh_authentication` asks an OIDC provider to authenticate the member again; a provider
    without id_tokens has no standard way to be asked, and is sent the usual request.
    """
    state = generate_token(43)
    nonce = generate_token(43)
    verifier = generate_token(64) if provider.use_pkce else ""
    user = str(request.user.pk) if request.user.is_authenticated else ""
    pending = Pending(
        provider=provider.slug,
        purpose=purpose,
        scopes=scopes,
        nonce=nonce,
        code_verifier=verifier,
        created=time.time(),
        next=next_url,
        user=user,
        fresh_authentication=fresh_authentication and _issues_id_tokens(provider, scopes),
    )
    kept = _pending(request)
    kept = dict(sorted(kept.items(), key=lambda item: item[1].get("created", 0))[-(MAX_PENDING - 1) :])
    kept[state] = pending.__dict__
    request.session[PENDING] = kept
    with client.provider_session(
        provider, scope=" ".join(scopes), redirect_uri=callback_url(request, provider)
    ) as session:
        extra: dict[str, Any] = {"nonce": nonce}
        if pending.fresh_authentication:
            extra.update(prompt="login", max_age="0")
        if verifier:
            extra["code_verifier"] = verifier
        url, _ = session.create_authorization_url(provider.authorization_endpoint, state=state, **extra)
    return url


def _issues_id_tokens(provider: UpstreamProvider, scopes: list[str]) -> bool:
    """Whether the answer will be an id_token Latch can verify (else finish() reads userinfo)."""
    return "openid" in scopes and bool(provider.issuer and provider.jwks_uri)


def take_pending(request: HttpRequest, provider: UpstreamProvider) -> Pending:
    """The flow the callback's `state` belongs to, removed from the session (single use)."""
    state = request.GET.get("state", "")
    kept = _pending(request)
    value = kept.pop(state, None) if state else None
    if value is not None:
        request.session[PENDING] = kept
    pending = Pending.from_session(value)
    if pending is None:
        raise FlowError(
            "unknown_state",
            "That sign-in link is not valid in this browser (it was used already, or started "
            "elsewhere). Please start again.",
            provider=provider.slug,
        )
    if pending.provider != provider.slug:
        raise FlowError(
            "state_for_another_provider",
            "That answer came from the wrong provider. Please start again.",
            provider=provider.slug,
            purpose=pending.purpose,
        )
    if time.time() - pending.created > STATE_MAX_AGE:
        raise FlowError(
            "state_expired",
            f"That took too long (more than {STATE_MAX_AGE // 60} minutes). Please start again.",
            provider=provider.slug,
            purpose=pending.purpose,
        )
    return pending


def finish(request: HttpRequest, provider: UpstreamProvider, pending: Pending) -> Result:
    """Check the provider's answer at the callback, exchange the code and read the member's identity."""

    def fail(reason: str, message: str) -> FlowError:
        return FlowError(reason, message, provider=provider.slug, purpose=pending.purpose)

    error = request.GET.get("error")
    if error == "access_denied":
        raise fail("access_denied", f"You did not allow it at {provider.name}; nothing was changed.")
    if error:
        logger.warning(
            "upstream.authorization_error",
            extra={"provider": provider.slug, "error": error[:100]},
        )
        raise fail(f"upstream_error:{error[:40]}", f"{provider.name} refused the request ({error[:40]}).")
    code = request.GET.get("code", "")
    if not code:
        raise fail("no_code", f"{provider.name} sent no authorization code.")
    token = _exchange(request, provider, pending, code, fail)
    if "id_token" in token:
        claims = _id_token_claims(provider, token["id_token"], nonce=pending.nonce, fail=fail)
        if pending.fresh_authentication:
            _check_fresh_authentication(provider, claims, pending, fail)
    elif "openid" in pending.scopes and provider.jwks_uri:
        raise fail("no_id_token", f"{provider.name} sent no id_token.")
    elif pending.purpose == Purpose.CONNECT and not provider.userinfo_endpoint:
        claims = {}  # which account it is stays unknown: services.connection_store refuses it if it must know
    else:
        claims = _userinfo(provider, token, fail)
    subject = claims.get("sub")
    if pending.purpose != Purpose.CONNECT and not (isinstance(subject, str) and subject):
        raise fail("no_subject", f"{provider.name} did not say who you are.")
    return Result(pending=pending, subject=subject or "", claims=claims, token=token)


def _exchange(
    request: HttpRequest, provider: UpstreamProvider, pending: Pending, code: str, fail: Fail
) -> dict:
    """RFC 6749 §4.1.3 (with the PKCE verifier, RFC 7636 §4.5), authenticating as the provider says."""
    kwargs: dict[str, Any] = {"code": code, "grant_type": "authorization_code"}
    if pending.code_verifier:
        kwargs["code_verifier"] = pending.code_verifier
    try:
        with client.provider_session(provider, redirect_uri=callback_url(request, provider)) as session:
            token = session.fetch_token(provider.token_endpoint, **kwargs)
    except requests.Timeout:
        raise fail(
            "timeout",
            f"{provider.name} did not answer in time. Please try again in a moment.",
        ) from None
    except requests.RequestException as exc:
        raise fail(
            f"unreachable:{type(exc).__name__}",
            f"{provider.name} could not be reached. Please try again in a moment.",
        ) from None
    except OAuthError as exc:
        raise fail(
            f"token_error:{(exc.error or 'unknown')[:40]}",
            f"{provider.name} refused to complete the sign-in ({exc.error}).",
        ) from None
    except ValueError:  # not JSON: an error page, a proxy's answer
        raise fail("token_error:not_json", f"{provider.name} answered with an error.") from None
    token = dict(token)
    if not isinstance(token.get("access_token"), str):
        raise fail("token_error:no_access_token", f"{provider.name} sent no access token.")
    return token


def _jwks(provider: UpstreamProvider, fail: Fail) -> KeySet:
    try:
        response = requests.get(provider.jwks_uri, timeout=settings.LATCH_UPSTREAM_TIMEOUT)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())
    except requests.Timeout:
        raise fail("jwks_timeout", f"{provider.name} did not answer in time.") from None
    except (requests.RequestException, ValueError, JoseError, TypeError, KeyError):
        raise fail("jwks_unavailable", f"{provider.name}'s signing keys could not be read.") from None


def _id_token_claims(
    provider: UpstreamProvider, id_token: object, *, nonce: str, fail: Fail
) -> dict[str, Any]:
    """OIDC Core §3.1.3.7: signature (the provider's JWKS), iss, aud (and azp), exp, iat, nonce."""
    if not isinstance(id_token, str) or not provider.jwks_uri or not provider.issuer:
        raise fail("bad_id_token", f"{provider.name}'s id_token cannot be checked.")
    keys = _jwks(provider, fail)
    try:
        decoded = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
        claims = dict(decoded.claims)
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(claims)
    except (JoseError, ValueError, TypeError) as exc:
        logger.warning(
            "upstream.bad_id_token", extra={"provider": provider.slug, "problem": type(exc).__name__}
        )
        raise fail(
            f"bad_id_token:{type(exc).__name__}", f"{provider.name}'s answer could not be verified."
        ) from None
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != provider.client_id:
        raise fail("bad_id_token:azp", f"{provider.name}'s answer could not be verified.")
    return claims


def _check_fresh_authentication(
    provider: UpstreamProvider, claims: dict[str, Any], pending: Pending, fail: Fail
) -> None:
    """With max_age, auth_time is required (OIDC Core §3.1.2.1); max_age=0: after the request."""
    auth_time = claims.get("auth_time")
    if (
        not isinstance(auth_time, int | float)
        or isinstance(auth_time, bool)
        or auth_time < pending.created - LEEWAY
    ):
        raise fail(
            "stale_authentication",
            f"{provider.name} did not ask you to sign in again, so you are not signed in anew. "
            "Please try again.",
        )


def _userinfo(provider: UpstreamProvider, token: dict, fail: Fail) -> dict[str, Any]:
    """Providers without id_tokens (plain OAuth 2.0): who the member is comes from the userinfo endpoint."""
    if not provider.userinfo_endpoint:
        raise fail("no_userinfo", f"{provider.name} does not say who you are (no userinfo endpoint).")
    try:
        with client.provider_session(provider, token=token) as session:
            response = session.get(provider.userinfo_endpoint, timeout=settings.LATCH_UPSTREAM_TIMEOUT)
        response.raise_for_status()
        claims = response.json()
    except requests.Timeout:
        raise fail("userinfo_timeout", f"{provider.name} did not answer in time.") from None
    except (requests.RequestException, ValueError):
        raise fail("userinfo_unavailable", f"{provider.name} did not say who you are.") from None
    if not isinstance(claims, dict):
        raise fail("userinfo_unavailable", f"{provider.name} did not say who you are.")
    # Plain OAuth 2.0 providers name the account "id" (often a number); OIDC userinfo names it "sub".
    if "sub" not in claims and isinstance(claims.get("id"), str | int) and not isinstance(claims["id"], bool):
        claims["sub"] = str(claims["id"])
    return claims
