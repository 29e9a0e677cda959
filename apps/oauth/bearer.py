"""Latch's check of an access token at its protected resources: the API and UserInfo.

It takes the place of DOT's resource path (OAuthLibCore.verify_request, oauthlib's
ResourceEndpoint and BearerToken, OAuth2Validator.validate_bearer_token), which built an oauthlib
Request, copied every request header into it, and walked oauthlib's token-type estimates for a
decision that is, for Latch, always the same one. What it decides is the same, in the same order,
with the same errors, but where tests/api/test_bearer_differential.py names a difference Latch
means (that test sends the same generated requests through both and compares the answers):

1. A token in the query string is refused (RFC 9700 §4.3.2, RFC 6750 §5.3; DOT's
   COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT), without an error code.
2. A query string with a broken percent-escape is a bad request (DOT raises SuspiciousOperation
   where oauthlib cannot decode it).
3. The token is the Authorization header's (`Bearer <token>`, or `DPoP <token>`:
   apps/oauth/dpop_resource.py), else a form body's `access_token` (RFC 6750 §2.2; the API parses
   JSON only, so there it never is). No token: refused without an error code (RFC 6750 §3.1).
   Both at once is refused by UserInfo before this check runs (RFC 6750 §2: UserInfoView).
4. One lookup by the token's digest, on every request (nothing about a token is remembered between
   requests). Unknown (revoked tokens are deleted) or expired: invalid_token. Short of a scope the
   caller names (UserInfo's `openid`): insufficient_scope.
5. A token restricted to resources (RFC 8707) only for a URL under one of them: DOT's
   RESOURCE_SERVER_TOKEN_RESOURCE_VALIDATOR decides, through AccessToken.allows_audience, for the
   request's absolute URL without its query, at the API and at UserInfo alike. (DOT's UserInfo
   compared the bare path, which no absolute resource URI matches, so it refused every restricted
   token, even one for Latch itself: Latch's protected resource metadata names the issuer as
   UserInfo's `resource` (RFC 9728 §3.3), so a client asking for that resource gets a token
   UserInfo takes. A token for another server still fails there: its scheme, host or port differ.)
6. A deactivated member's tokens stop working at once, not when they expire.
7. The sender constraint of a DPoP-bound token (RFC 9449 §7), and the DPoP scheme for no other.

A JWT-shaped value is looked up like any other: oauthlib would route it to the validator's
validate_jwt_bearer_token, which Latch points back at validate_bearer_token, so an id_token (or a
refresh token, or a code) presented as an access token is simply not found. The scope and
token-kind rules of an API view stay in apps/api/permissions.py, which reads the token returned
here.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext as _

from apps.core.fields import sha256_hex
from apps.oauth import dpop_resource, lookups
from apps.oauth.models import AccessToken

# oauthlib.common.INVALID_HEX_PATTERN: a `%` not followed by two hex digits.
_BROKEN_ESCAPE = re.compile(r"%[^0-9A-Fa-f]|%[0-9A-Fa-f][^0-9A-Fa-f]")


@dataclass(frozen=True)
class Verdict:
    """The access token a request may use, or why it may not: `error` is the RFC 6750 §3 error
    for the challenge, empty when the answer names none (no token, a token in the URL, a
    deactivated member)."""

    access_token: AccessToken | None
    error: dict[str, str]

    @property
    def valid(self) -> bool:
        return self.access_token is not None


def _refused(error: str | None = None, description: str | None = None) -> Verdict:
    if error is None:
        return Verdict(None, {})
    return Verdict(
        None, {"error": error, "error_description": description} if description else {"error": error}
    )


def _in_url(request: HttpRequest) -> bool:
    """DOT's test: the query string names `access_token` (Django's parse, as lenient as a browser)."""
    return "access_token" in request.GET


def verify(
    request: HttpRequest, *, form: QueryDict, scopes: Sequence[str] = (), with_member: bool = False
) -> Verdict:
    """Whether `request` presents a usable access token carrying `scopes`, and which.

    `form` is the request's parsed form body (Django's `request.POST`, or DRF's, which refuses a
    body the view cannot parse): the caller reads it, so that a body the resource cannot read is
    refused as it was before this check ran. `with_member` joins the member record of the
    token's user into the same lookup (apps/members/selectors.member_for_user then reads no more).
    """
    presentation, token = dpop_resource.read(request)
    if _in_url(request):
        return _refused()
    if _BROKEN_ESCAPE.search(request.META.get("QUERY_STRING", "")):
        raise SuspiciousOperation("Invalid hex encoding in query string.")
    if presentation is None:
        token = form.get("access_token")
    if not token:
        return _refused()
    lookup = lookups.access_token_with_member_by_checksum if with_member else lookups.access_token_by_checksum
    access_token = lookup.first(sha256_hex(token))
    if access_token is None:
        return _refused("invalid_token", _("The access token is invalid."))
    if access_token.is_expired():
        return _refused("invalid_token", _("The access token has expired."))
    if not access_token.allow_scopes(scopes):
        return _refused("insufficient_scope", _("The access token is valid but does not have enough scope."))
    if access_token.resource and not access_token.allows_audience(_resource_url(request)):
        return _refused("invalid_token", _("The access token is not valid for this resource."))
    application = access_token.application
    # DOT's hook for an application that is switched off (Application.is_usable); Latch's model
    # keeps DOT's, which allows every request. DOT hands it oauthlib's request, Latch Django's.
    if application is not None and not application.is_usable(request):
        return _refused("invalid_token", _("The access token is invalid."))
    if access_token.user is not None and not access_token.user.is_active:
        return _refused()
    if refusal := dpop_resource.refusal_for(presentation, access_token, token, method=request.method or ""):
        return _refused(refusal.error, refusal.description)
    return Verdict(access_token, {})


def _resource_url(request: HttpRequest) -> str:
    """The URL an RFC 8707 audience is compared with: DOT's, the absolute URL without the query."""
    return request.build_absolute_uri(request.get_full_path()).split("?")[0]
