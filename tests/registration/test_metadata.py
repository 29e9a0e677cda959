"""Client metadata is read strictly (RFC 7591 §2): every refusal is a 400 and stores nothing."""

import json

import pytest
from django.test import Client

from apps.oauth.models import Application
from apps.registration.models import InitialAccessToken
from tests.registration.factories import code_client_metadata, initial_token, register

pytestmark = pytest.mark.django_db

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
JWKS = {
    "keys": [
        {
            "kty": "EC",
            "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            "kid": "k1",
            "use": "sig",
        }
    ]
}


def refused(response, error: str = "invalid_client_metadata") -> str:
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert not Application.objects.exists()
    assert InitialAccessToken.objects.get().uses == 0
    return response.json()["error_description"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.org/callback",  # plain http off loopback
        "https://app.example.org/callback#fragment",
        "https://app.example.org/callback#",
        "http://localhost:8080/callback",  # RFC 8252 §8.3
        "https://localhost/callback",
        "https://app.localhost/callback",
        "javascript:alert(1)",
        "data:text/html,hi",
        "com.example.app:/callback",  # private-use schemes are for administrators to register
        "https://*.example.org/callback",
        "https://app.example.org/*",
        "https://user:pass@app.example.org/callback",
        "https://app.example.org/call back",
        "https://app.example.org/callback\n",
        "https:///callback",
        "/callback",
        "",
        "https://app.example.org:99999/callback",
        "HTTPS://app.example.org/callback",
        "https://app.example.org/\x00",
    ],
)
def test_a_bad_redirect_uri_is_invalid_redirect_uri(uri):
    response = register(initial_token(), code_client_metadata(redirect_uris=[uri]))

    refused(response, "invalid_redirect_uri")


def test_loopback_http_is_refused_where_the_server_takes_no_http_redirects():
    response = register(initial_token(), code_client_metadata(redirect_uris=["http://127.0.0.1:8400/cb"]))

    assert "LATCH_ALLOW_HTTP_REDIRECT_URIS" in refused(response, "invalid_redirect_uri")


@pytest.mark.usefixtures("loopback_redirects")
@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:8400/callback", "http://[::1]:8400/callback", "http://127.0.0.1/cb"]
)
def test_a_native_app_registers_a_loopback_redirect_uri(uri):
    metadata = code_client_metadata(redirect_uris=[uri], token_endpoint_auth_method="none")

    response = register(initial_token(), metadata)

    assert response.status_code == 201, response.content
    assert response.json()["redirect_uris"] == [uri]


@pytest.mark.usefixtures("loopback_redirects")
def test_http_on_another_address_stays_refused_even_where_http_is_allowed():
    response = register(initial_token(), code_client_metadata(redirect_uris=["http://10.0.0.1/callback"]))

    refused(response, "invalid_redirect_uri")


def test_the_code_grant_needs_a_redirect_uri():
    refused(register(initial_token(), code_client_metadata(redirect_uris=...)), "invalid_redirect_uri")


def test_a_grant_without_redirects_may_not_register_any():
    metadata = {
        "grant_types": ["client_credentials"],
        "scope": "member-read",
        "redirect_uris": ["https://a.example/"],
    }

    refused(register(initial_token(), metadata), "invalid_redirect_uri")


@pytest.mark.parametrize(
    "grant_types",
    [
        ["implicit"],
        ["password"],
        ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
        ["authorization_code", "implicit"],
        ["refresh_token"],
        [],
        ["device_code"],  # only the URN is a grant type
    ],
)
def test_an_unsupported_grant_type_is_refused(grant_types):
    refused(register(initial_token(), code_client_metadata(grant_types=grant_types)))


@pytest.mark.parametrize(
    "grant_types",
    [
        ["authorization_code", "client_credentials"],
        ["authorization_code", DEVICE_CODE],
        ["client_credentials", DEVICE_CODE, "refresh_token"],
    ],
)
def test_two_grant_types_that_need_two_applications_are_refused(grant_types):
    description = refused(register(initial_token(), code_client_metadata(grant_types=grant_types)))

    assert "one client per grant type" in description


def test_client_credentials_has_no_refresh_token():
    metadata = {"grant_types": ["client_credentials", "refresh_token"], "scope": "member-read"}

    refused(register(initial_token(), metadata))


def test_offline_access_needs_the_refresh_token_grant():
    refused(register(initial_token(), code_client_metadata(grant_types=["authorization_code"])))


@pytest.mark.parametrize(
    ("grant_types", "response_types"),
    [
        (["authorization_code"], ["token"]),
        (["authorization_code"], ["code", "id_token"]),
        (["authorization_code"], []),
        (["client_credentials"], ["code"]),
    ],
)
def test_response_types_must_match_the_grant(grant_types, response_types):
    metadata = code_client_metadata(
        grant_types=grant_types, response_types=response_types, scope="member-read"
    )
    if grant_types == ["client_credentials"]:
        metadata.pop("redirect_uris")

    refused(register(initial_token(), metadata))


@pytest.mark.parametrize("method", ["client_secret_jwt", "tls_client_auth", "", 5, ["none"]])
def test_an_unsupported_auth_method_is_refused(method):
    refused(register(initial_token(), code_client_metadata(token_endpoint_auth_method=method)))


def test_private_key_jwt_is_refused_where_the_token_endpoint_does_not_accept_it(settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    }
    refused(
        register(
            initial_token(), code_client_metadata(token_endpoint_auth_method="private_key_jwt", jwks=JWKS)
        )
    )


@pytest.mark.usefixtures("private_key_jwt")
def test_private_key_jwt_without_keys_is_refused():
    refused(register(initial_token(), code_client_metadata(token_endpoint_auth_method="private_key_jwt")))


@pytest.mark.usefixtures("private_key_jwt")
def test_private_key_jwt_with_both_jwks_and_jwks_uri_is_refused():
    metadata = code_client_metadata(
        token_endpoint_auth_method="private_key_jwt", jwks=JWKS, jwks_uri="https://app.example.org/jwks"
    )

    refused(register(initial_token(), metadata))


@pytest.mark.usefixtures("private_key_jwt")
@pytest.mark.parametrize("jwks", [[], {}, {"keys": []}, {"keys": "k"}, {"keys": [1]}, "keys", {"kty": "EC"}])
def test_private_key_jwt_with_a_malformed_jwks_is_refused(jwks):
    refused(
        register(
            initial_token(), code_client_metadata(token_endpoint_auth_method="private_key_jwt", jwks=jwks)
        )
    )


@pytest.mark.usefixtures("private_key_jwt")
@pytest.mark.parametrize(
    "jwks_uri",
    [
        "http://app.example.org/jwks",
        "https://127.0.0.1/jwks",
        "https://[::1]/jwks",
        "https://10.1.2.3/jwks",
        "https://169.254.169.254/latest",
        "https://localhost/jwks",
    ],
)
def test_a_jwks_uri_must_be_https_and_not_an_internal_address(jwks_uri):
    metadata = code_client_metadata(token_endpoint_auth_method="private_key_jwt", jwks_uri=jwks_uri)

    refused(register(initial_token(), metadata))


@pytest.mark.usefixtures("private_key_jwt")
def test_a_private_key_jwt_client_registers_its_keys_and_is_shown_no_secret():
    metadata = code_client_metadata(token_endpoint_auth_method="private_key_jwt", jwks=JWKS)

    response = register(initial_token(), metadata)

    assert response.status_code == 201, response.content
    body = response.json()
    assert "client_secret" not in body
    assert body["jwks"] == JWKS
    application = Application.objects.get(client_id=body["client_id"])
    assert application.token_endpoint_auth_method == "private_key_jwt"
    assert application.jwks == JWKS


def test_keys_without_private_key_jwt_are_refused():
    refused(register(initial_token(), code_client_metadata(jwks_uri="https://app.example.org/jwks")))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("logo_uri", "http://app.example.org/logo.png"),
        ("logo_uri", "javascript:alert(1)"),
        ("client_uri", "http://app.example.org/"),
        ("backchannel_logout_uri", "http://app.example.org/logout"),
        ("backchannel_logout_uri", "https://192.168.1.1/logout"),
        ("backchannel_logout_uri", "https://app.example.org/logout#x"),
        ("backchannel_logout_session_required", "yes"),
        ("post_logout_redirect_uris", ["http://app.example.org/"]),
        ("post_logout_redirect_uris", "https://app.example.org/"),
        ("client_name", "x" * 256),
        ("client_name", "Evil\u0000App"),
        ("client_name", ["Planner"]),
        ("scope", ["openid"]),
        ("redirect_uris", "https://app.example.org/callback"),
        ("redirect_uris", [1]),
        ("grant_types", "authorization_code"),
        ("contacts", "ops@example.org"),
        ("contacts", [f"{n}@example.org" for n in range(11)]),
        ("logo_uri", "https://app.example.org/" + "a" * 300),  # longer than the model's URLField
    ],
)
def test_a_malformed_field_is_refused(name, value):
    refused(register(initial_token(), code_client_metadata(**{name: value})))


def test_too_many_redirect_uris_are_refused():
    uris = [f"https://app.example.org/cb{n}" for n in range(21)]

    refused(register(initial_token(), code_client_metadata(redirect_uris=uris)), "invalid_client_metadata")


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '["redirect_uris"]',
        "null",
        "42",
        '"a string"',
        '{"client_name": NaN}',
        '{"client_name": "a", "client_name": "b"}',
        "{" * 100_000,
        b"\xff\xfe{}",
        "",
    ],
)
def test_a_body_that_is_not_one_json_object_is_refused(body):
    refused(register(initial_token(), body))


def test_a_huge_body_is_refused():
    metadata = code_client_metadata(client_name="x", padding="y" * 70_000)

    refused(register(initial_token(), metadata))


def test_a_form_post_is_refused():
    token = initial_token()
    response = Client().post("/oauth/register", {"client_name": "x"}, HTTP_AUTHORIZATION=f"Bearer {token}")

    refused(response)


def test_the_error_names_the_metadata_not_the_model():
    description = refused(
        register(
            initial_token(["member-read"]),
            {
                "grant_types": ["client_credentials"],
                "scope": "member-read",
                "token_endpoint_auth_method": "none",
            },
        )
    )

    assert description.startswith("token_endpoint_auth_method:")
    assert json.dumps(description)  # plain text, nothing internal
