"""Client authentication for Latch's own endpoints that are not DOT's token endpoint.

Introspection, pushed authorization requests (RFC 9126 §2) and device authorization (RFC 8628
§3.1) authenticate the client exactly as the token endpoint does (RFC 6749 §2.3, §3.2.1), through
the same validator: a confidential client by its secret (HTTP Basic or the body) or a client
assertion (private_key_jwt, RFC 7523; apps/oauth/client_assertion.py), a public one by naming
itself with `client_id`.
"""

from urllib.parse import urlencode

from django.http import HttpRequest
from oauth2_provider.oauth2_backends import OAuthLibCore, get_oauthlib_core
from oauthlib.common import Request as OAuthlibRequest

from apps.oauth import throttling
from apps.oauth.models import Application


def as_oauthlib_request(request: HttpRequest, core: OAuthLibCore) -> OAuthlibRequest:
    """The POST as oauthlib sees it, for endpoints that authenticate the client themselves.

    `core` is the caller's: DOT's get_oauthlib_core builds a validator and a server each call."""
    return OAuthlibRequest(
        request.build_absolute_uri(),
        "POST",
        urlencode(core.extract_body(request)),
        core.extract_headers(request),
    )


def authenticated_client(request: HttpRequest) -> Application | None:
    """The client, authenticated as at the token endpoint; None when that fails."""
    if "\x00" in throttling.presented_client_id(request):
        return None  # no client has one, and PostgreSQL refuses to compare with it
    core = get_oauthlib_core()
    oauthlib_request = as_oauthlib_request(request, core)
    validator = core.server.request_validator
    if validator.client_authentication_required(oauthlib_request):
        authenticated = validator.authenticate_client(oauthlib_request)
    else:
        client_id = oauthlib_request.client_id
        authenticated = bool(client_id) and validator.authenticate_client_id(client_id, oauthlib_request)
    client = oauthlib_request.client
    return client if authenticated and isinstance(client, Application) else None
