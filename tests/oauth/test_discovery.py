"""Server metadata (OIDC Discovery / RFC 8414) and the JWKS: what is advertised, and that it is honoured."""

import base64
import json
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, Grant
from apps.oauth.scopes import SCOPES
from tests.oauth import device, exchange, flow
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory, public_application, service_application

pytestmark = pytest.mark.django_db

ISSUER = "https://testserver"
OPENID_CONFIGURATION = "/.well-known/openid-configuration"
OAUTH_SERVER_METADATA = "/.well-known/oauth-authorization-server"


@pytest.fixture
def metadata() -> dict:
    response = Client().get(OPENID_CONFIGURATION)
    assert response.status_code == 200
    return response.json()


def path_of(url: str) -> str:
    assert url.startswith(ISSUER + "/"), url
    return url[len(ISSUER) :]


def error_redirect(response) -> dict[str, str]:
    """The query of a redirect back to the client (which must be the registered redirect URI)."""
    assert response.status_code == 302, response.content
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert not location.fragment
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def jwt_header(token: str) -> dict:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# --- The document ---------------------------------------------------------------------------------


def test_both_well_known_urls_serve_the_same_json_document():
    oidc = Client().get(OPENID_CONFIGURATION)
    rfc8414 = Client().get(OAUTH_SERVER_METADATA)

    assert oidc.status_code == 200
    assert rfc8414.status_code == 200
    assert oidc["Content-Type"] == "application/json"
    assert rfc8414["Content-Type"] == "application/json"
    assert oidc.json() == rfc8414.json()
    assert oidc.json()["issuer"] == ISSUER


def test_metadata_is_cacheable_and_readable_cross_origin():
    response = Client().get(OPENID_CONFIGURATION)

    assert response["Access-Control-Allow-Origin"] == "*"
    assert set(response["Cache-Control"].replace(" ", "").split(",")) == {"public", "max-age=3600"}


def test_metadata_refuses_writes():
    response = Client().post(OPENID_CONFIGURATION)

    assert response.status_code == 405


def test_issuer_is_the_server_origin_without_a_trailing_slash(metadata):
    assert metadata["issuer"] == "https://testserver"


def test_every_endpoint_is_advertised_at_its_exact_url(metadata):
    assert {key: value for key, value in metadata.items() if key.endswith(("_endpoint", "_uri"))} == {
        "authorization_endpoint": "https://testserver/oauth/authorize",
        "token_endpoint": "https://testserver/oauth/token",
        "userinfo_endpoint": "https://testserver/oauth/userinfo",
        "jwks_uri": "https://testserver/oauth/jwks",
        "revocation_endpoint": "https://testserver/oauth/revoke",
        "introspection_endpoint": "https://testserver/oauth/introspect",
        "end_session_endpoint": "https://testserver/oauth/logout",
        "pushed_authorization_request_endpoint": "https://testserver/oauth/par",
        "device_authorization_endpoint": "https://testserver/oauth/device_authorization",
    }


def test_pushed_requests_are_required_of_every_app_only_when_the_server_says_so(settings):
    assert Client().get(OPENID_CONFIGURATION).json()["require_pushed_authorization_requests"] is False

    settings.LATCH_REQUIRE_PAR = True

    assert Client().get(OPENID_CONFIGURATION).json()["require_pushed_authorization_requests"] is True


def test_configured_issuer_wins_over_the_request_host(settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": "https://latch.example.org"}

    document = Client().get(OPENID_CONFIGURATION).json()

    assert document["issuer"] == "https://latch.example.org"
    assert document["token_endpoint"] == "https://latch.example.org/oauth/token"
    assert document["jwks_uri"] == "https://latch.example.org/oauth/jwks"


def test_only_s256_pkce_is_advertised(metadata):
    assert metadata["code_challenge_methods_supported"] == ["S256"]


def test_grant_types_are_code_refresh_client_credentials_device_code_and_token_exchange(metadata):
    assert metadata["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]


def test_only_the_code_response_type_is_advertised(metadata):
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["response_modes_supported"] == ["query"]


def test_scopes_supported_is_the_scope_registry(metadata):
    assert metadata["scopes_supported"] == list(SCOPES)
    assert "openid" in metadata["scopes_supported"]


def test_id_tokens_are_advertised_as_rs256_only(metadata):
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["subject_types_supported"] == ["public"]


def test_token_and_revocation_endpoints_accept_basic_post_private_key_jwt_and_public_clients(metadata):
    expected = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    assert metadata["token_endpoint_auth_methods_supported"] == expected
    assert metadata["revocation_endpoint_auth_methods_supported"] == expected


def test_introspection_endpoint_requires_client_authentication(metadata):
    methods = metadata["introspection_endpoint_auth_methods_supported"]

    assert "none" not in methods
    assert methods == ["client_secret_basic", "client_secret_post", "private_key_jwt"]


def test_private_key_jwt_signing_algorithms_are_advertised_per_endpoint_and_are_asymmetric(metadata):
    for endpoint in ("token", "revocation", "introspection"):
        algorithms = metadata[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert algorithms == ["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"]
        assert not any(alg.startswith("HS") or alg == "none" for alg in algorithms)


def test_authorization_response_iss_and_no_request_objects_are_advertised(metadata):
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False
    assert metadata["claims_parameter_supported"] is False
    assert metadata["prompt_values_supported"] == ["none", "login", "consent"]


def test_claims_supported_lists_the_claims_latch_issues(metadata):
    assert set(metadata["claims_supported"]) >= {
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "nonce",
        "name",
        "given_name",
        "family_name",
        "updated_at",
        "email",
        "email_verified",
    }


# --- Every advertised URL answers -----------------------------------------------------------------


def test_every_advertised_url_answers_with_the_test_client(metadata, browser):
    anonymous = Client()
    answers = {
        # A signed-in member with no parameters gets Latch's error page, not a 404.
        "authorization_endpoint": browser.get(path_of(metadata["authorization_endpoint"])).status_code,
        "token_endpoint": anonymous.post(path_of(metadata["token_endpoint"]), {}).status_code,
        "userinfo_endpoint": anonymous.get(path_of(metadata["userinfo_endpoint"])).status_code,
        "jwks_uri": anonymous.get(path_of(metadata["jwks_uri"])).status_code,
        "revocation_endpoint": anonymous.post(path_of(metadata["revocation_endpoint"]), {}).status_code,
        "introspection_endpoint": anonymous.post(path_of(metadata["introspection_endpoint"]), {}).status_code,
        # A signed-in member is asked to confirm signing out.
        "end_session_endpoint": browser.get(path_of(metadata["end_session_endpoint"])).status_code,
    }

    assert answers == {
        "authorization_endpoint": 400,
        "token_endpoint": 400,
        "userinfo_endpoint": 401,
        "jwks_uri": 200,
        "revocation_endpoint": 400,
        "introspection_endpoint": 401,
        "end_session_endpoint": 200,
    }


# --- What is advertised is honoured, and nothing else -----------------------------------------


def test_every_advertised_grant_type_is_accepted_by_the_token_endpoint(metadata, browser):
    application = ApplicationFactory()
    code, verifier = flow.get_code(browser, application, "openid offline_access member-read")
    issued = {}

    by_code = flow.redeem(Client(), application, code, verifier)
    issued["authorization_code"] = by_code.status_code
    by_refresh = flow.refresh(Client(), application, by_code.json()["refresh_token"])
    issued["refresh_token"] = by_refresh.status_code
    issued["client_credentials"] = flow.client_credentials(
        Client(), service_application(), scope="member-read"
    ).status_code
    tv = device.device_application()
    codes = device.codes(tv, "member-read")
    device.answer(browser, codes["user_code"], allow=True)
    issued[device.DEVICE_GRANT] = device.poll(Client(), tv, codes["device_code"]).status_code
    service = exchange.exchanging_service(subject_clients=[application])
    issued[exchange.TOKEN_EXCHANGE] = exchange.exchange(
        service, by_refresh.json()["access_token"]
    ).status_code

    assert list(issued) == metadata["grant_types_supported"]
    assert issued == {
        "authorization_code": 200,
        "refresh_token": 200,
        "client_credentials": 200,
        device.DEVICE_GRANT: 200,
        exchange.TOKEN_EXCHANGE: 200,
    }


@pytest.mark.parametrize(
    "grant_type",
    [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ],
)
def test_grant_types_not_advertised_are_unsupported_at_the_token_endpoint(grant_type, member):
    application = ApplicationFactory()

    response = Client().post(
        "/oauth/token",
        {"grant_type": grant_type, "username": member.email, "password": "correct horse battery staple"},
        **flow.app_auth(application),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "response_type",
    ["token", "id_token", "id_token token", "code token", "code id_token", "code id_token token", "none"],
)
def test_response_types_other_than_code_are_refused_as_unsupported(response_type, browser):
    application = ApplicationFactory()
    _, challenge = flow.pkce_pair()

    response = flow.consent_page(
        browser, application, "openid", challenge, response_type=response_type, nonce="n-1"
    )

    params = error_redirect(response)
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == "state-123"
    assert {"code", "access_token", "id_token"}.isdisjoint(params)
    assert not Grant.objects.exists()
    assert not AccessToken.objects.exists()


def test_plain_pkce_which_is_not_advertised_is_refused(browser):
    application = ApplicationFactory()
    verifier, _ = flow.pkce_pair()

    response = flow.consent_page(browser, application, "openid", verifier, code_challenge_method="plain")

    params = error_redirect(response)
    assert params["error"] == "invalid_request"
    assert params["error_description"] == "Transform algorithm not supported."
    assert "code" not in params
    assert not Grant.objects.exists()


def test_client_secret_post_is_honoured_at_the_token_endpoint():
    application = service_application()

    response = Client().post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": application.client_id,
            "client_secret": application.secret,
            "scope": "member-read",
        },
    )

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "member-read"


def test_auth_method_none_is_honoured_for_public_clients_at_the_token_endpoint(browser):
    application = public_application()
    code, verifier = flow.get_code(browser, application, "openid")

    response = Client().post(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": application.client_id,
        },
    )

    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "Bearer"


def test_prompt_login_which_is_advertised_sends_the_member_to_sign_in_again(browser):
    application = ApplicationFactory()
    _, challenge = flow.pkce_pair()

    response = flow.consent_page(browser, application, "openid", challenge, prompt="login")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert not Grant.objects.exists()


def test_prompt_none_which_is_not_advertised_is_answered_with_consent_required(member):
    application = ApplicationFactory()
    _, challenge = flow.pkce_pair()
    # Server errors become 500 responses here instead of exceptions, as a real browser sees them.
    browser = Client(raise_request_exception=False)
    browser.force_login(member)

    response = flow.consent_page(browser, application, "openid", challenge, prompt="none")

    params = error_redirect(response)
    assert params["error"] == "consent_required"
    assert params["state"] == "state-123"
    assert "code" not in params
    assert not Grant.objects.exists()


# --- JWKS -----------------------------------------------------------------------------------------


def test_jwks_publishes_one_public_rsa_signing_key():
    response = Client().get("/oauth/jwks")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    keys = response.json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["e"] == "AQAB"
    assert len(key["n"]) >= 342  # a 2048-bit (or larger) modulus, base64url-encoded
    assert key["kid"]
    # Only the public half: no private exponent or CRT parameters.
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_jwks_key_id_is_the_kid_in_id_token_headers(browser):
    application = ApplicationFactory()
    code, verifier = flow.get_code(browser, application, "openid", nonce="n-1")
    id_token = flow.redeem(Client(), application, code, verifier).json()["id_token"]

    (key,) = Client().get("/oauth/jwks").json()["keys"]

    header = jwt_header(id_token)
    assert header["alg"] == "RS256"
    assert header["kid"] == key["kid"]
