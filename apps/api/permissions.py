"""Scope checks for the resource API, as RFC 6750 describes them.

A view names what it needs:

    required_scopes = {"GET": "participant-read", "POST": "participant-write"}   # or one string
    token_kind = TokenKind.USER      # ANY (default), USER (acts for a member) or APP (client credentials)
"""

from enum import StrEnum

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission

from apps.api.exceptions import AppTokenRequired, InsufficientScope, UserTokenRequired


class TokenKind(StrEnum):
    ANY = "any"
    USER = "user"
    APP = "app"


def required_scope(view, method: str) -> str | None:
    if method in ("HEAD", "OPTIONS"):
        method = "GET"
    scopes = getattr(view, "required_scopes", None)
    if isinstance(scopes, dict):
        return scopes.get(method) or scopes.get("*")
    return scopes


def is_user_token(request) -> bool:
    return request.auth is not None and request.auth.user_id is not None


class ScopedTokenPermission(BasePermission):
    """A valid access token, carrying the scope the view requires for this method."""

    def has_permission(self, request, view) -> bool:
        if request.method not in view.allowed_methods:
            return True  # the view answers 405 Method Not Allowed
        if request.auth is None:
            raise NotAuthenticated()
        scope = required_scope(view, request.method)
        if scope is None:
            # A view that forgot to name its scope must not be open to every token.
            raise InsufficientScope("(none declared)")
        if not request.auth.allow_scopes([scope]):
            raise InsufficientScope(scope)
        kind = getattr(view, "token_kind", TokenKind.ANY)
        if kind == TokenKind.USER and not is_user_token(request):
            raise UserTokenRequired()
        if kind == TokenKind.APP and is_user_token(request):
            raise AppTokenRequired()
        return True
