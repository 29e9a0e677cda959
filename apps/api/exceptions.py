"""API errors in the shape OAuth clients expect: `{"error": ..., "error_description": ...}`.

Authentication and scope failures also carry the RFC 6750 `WWW-Authenticate: Bearer` challenge.
"""

from django.http import Http404
from rest_framework import exceptions, status

from apps.oauth.dpop_resource import scheme_name


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"This request needs an access token with the {scope} scope.")


class UserTokenRequired(exceptions.PermissionDenied):
    """An app's own token (client credentials) at an endpoint that acts for a member.

    RFC 9470's `insufficient_user_authentication`: no member took part in issuing this token.
    """

    default_code = "insufficient_user_authentication"
    default_detail = "This endpoint acts for a member: use a token a member granted (authorization code)."


class AppTokenRequired(exceptions.PermissionDenied):
    """A member's token at an endpoint only an application may call on its own behalf (the kiosk)."""

    default_code = "access_denied"
    default_detail = "This endpoint takes an application's own token (client credentials), not a member's."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _error_code(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return "invalid_token"
    if isinstance(exc, exceptions.ValidationError | exceptions.ParseError):
        return "invalid_request"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def api_exception_handler(exc, context):
    # Imported here: rest_framework.views reads the API settings, which import this app's permissions.
    from rest_framework.views import exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    code = _error_code(exc)
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "error": code,
            "error_description": "The request is not valid.",
            "fields": exc.detail,
        }
    else:
        response.data = {"error": code, "error_description": str(exc.detail)}
    scheme = scheme_name(context["request"]._request)  # the scheme the token came with
    if isinstance(exc, InsufficientScope):
        response.data["scope"] = exc.scope
        response["WWW-Authenticate"] = (
            f'{scheme} realm="api", error="insufficient_scope", scope="{exc.scope}"'
        )
    elif isinstance(exc, UserTokenRequired):
        response["WWW-Authenticate"] = f'{scheme} realm="api", error="insufficient_user_authentication"'
    elif response.status_code == status.HTTP_401_UNAUTHORIZED:
        request = context["request"]
        if getattr(request, "oauth2_error", None):
            response.data["error"] = request.oauth2_error.get("error", "invalid_token")
            response.data["error_description"] = request.oauth2_error.get(
                "error_description", response.data["error_description"]
            )
        else:
            # No token at all: RFC 6750 §3.1 says no error code, just the challenge.
            response.data = {"error_description": "An access token is required (Authorization: Bearer ...)."}
    return response
