"""The one server metadata document, served as OIDC Discovery and as RFC 8414 metadata.

Built from what the server really runs (the registry, the LatchServer's grant and response types,
DOT's settings) so that discovery can never advertise something that would then be refused.
"""

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from oauth2_provider.settings import oauth2_settings

from apps.dpop.proofs import SUPPORTED_ALGORITHMS as DPOP_ALGORITHMS
from apps.oauth.client_assertion import SIGNING_ALGORITHMS as ASSERTION_ALGORITHMS
from apps.oauth.models import Acr
from apps.oauth.scopes import SCOPES
from apps.oauth.server import CODE_CHALLENGE_METHODS, SUPPORTED_GRANT_TYPES, SUPPORTED_RESPONSE_TYPES

CLAIMS_SUPPORTED = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",  # how strongly the member authenticated: acr_values_supported
    "amr",  # how: RFC 8176 values (apps/accounts/mfa.py)
    "sid",  # the member's session at Latch (OIDC Back-Channel Logout §2.1, apps/backchannel)
    "name",
    "given_name",
    "family_name",
    "updated_at",
    "email",
    "email_verified",
]


def _endpoint(request: HttpRequest, issuer: str, name: str) -> str:
    return issuer + reverse(f"oauth2_provider:{name}")


def server_metadata(request: HttpRequest) -> dict:
    issuer = oauth2_settings.oidc_issuer(request)
    client_auth_methods = list(oauth2_settings.OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED)
    # RFC 8414 §2: the algorithms a private_key_jwt assertion may be signed with, per endpoint.
    assertion_algorithms = (
        {
            f"{endpoint}_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS)
            for endpoint in ("token", "revocation", "introspection")
        }
        if "private_key_jwt" in client_auth_methods
        else {}
    )
    metadata = {
        "issuer": issuer,
        "authorization_endpoint": _endpoint(request, issuer, "authorize"),
        "token_endpoint": _endpoint(request, issuer, "token"),
        "userinfo_endpoint": _endpoint(request, issuer, "user-info"),
        "jwks_uri": _endpoint(request, issuer, "jwks-info"),
        "revocation_endpoint": _endpoint(request, issuer, "revoke-token"),
        "introspection_endpoint": _endpoint(request, issuer, "introspect"),
        "end_session_endpoint": _endpoint(request, issuer, "rp-initiated-logout"),
        "device_authorization_endpoint": _endpoint(request, issuer, "device-authorization"),
        "scopes_supported": list(SCOPES),
        "response_types_supported": list(SUPPORTED_RESPONSE_TYPES),
        "response_modes_supported": ["query"],
        "grant_types_supported": list(SUPPORTED_GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": client_auth_methods,
        "revocation_endpoint_auth_methods_supported": client_auth_methods,
        # Introspection reveals token metadata, so only clients that can authenticate may use it.
        "introspection_endpoint_auth_methods_supported": [m for m in client_auth_methods if m != "none"],
        **assertion_algorithms,
        "code_challenge_methods_supported": list(CODE_CHALLENGE_METHODS),
        "claims_supported": CLAIMS_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent"],
        # An app may ask for the second with acr_values (OIDC Core §3.1.2.1); see Acr.
        "acr_values_supported": list(Acr.values),
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
        # RFC 9126 §5; whether one app must push is its own flag, not published.
        "pushed_authorization_request_endpoint": _endpoint(request, issuer, "pushed-authorization-request"),
        "require_pushed_authorization_requests": settings.LATCH_REQUIRE_PAR,
        # AuthorizeView.redirect names the issuer in every redirect to the app, errors included.
        "authorization_response_iss_parameter_supported": True,
        # RFC 9449 §5.1: the algorithms a DPoP proof may be signed with (apps/dpop/proofs.py).
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        # OIDC Back-Channel Logout §2.1: logout tokens to backchannel_logout_uri, with `sid`.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
    if settings.LATCH_CLIENT_REGISTRATION:
        # RFC 8414 §2 / RFC 7591 §3: registering needs an initial access token an administrator issued.
        metadata["registration_endpoint"] = _endpoint(request, issuer, "client-registration")
    return metadata
