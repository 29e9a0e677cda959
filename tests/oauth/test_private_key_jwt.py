"""private_key_jwt (RFC 7523 §2.2, §3; OIDC Core §9) at the token endpoint: assertions signed with
joserfc, and every way one must be refused (always 401 invalid_client, nothing issued)."""

import time
from dataclasses import dataclass

import pytest
from django.test import Client
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from apps.oauth.client_assertion import ASSERTION_TYPE
from apps.oauth.models import AccessToken
from tests.oauth import flow
from tests.oauth.assertions import (
    ClientKey,
    assertion,
    assertion_body,
    claims_for,
    client_key,
    pkjwt_application,
    sign,
    token_endpoint,
    unsigned,
)
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class FromNow:
    """A time this many seconds from when the test runs, not from when it was collected."""

    seconds: int

    def at(self, now: float) -> int:
        return int(now) + self.seconds


def token_request(signed: str, headers: dict | None = None, **extra: str):
    body = {"grant_type": "client_credentials", "scope": "member-read", **assertion_body(signed, **extra)}
    return Client().post("/oauth/token", body, **(headers or {}))


def assert_refused(response) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"]
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("kind", ["rsa", "ec", "okp"])
def test_an_assertion_signed_by_the_clients_key_gets_a_token(kind):
    key = client_key(kind)
    application = pkjwt_application(key)

    response = token_request(assertion(application, key))

    assert response.status_code == 200, response.content
    token = AccessToken.objects.get()
    assert token.application == application
    assert token.user is None


def test_ps256_is_accepted_with_an_rsa_key():
    key = client_key("rsa")
    application = pkjwt_application(key)

    response = token_request(sign(key, claims_for(application.client_id), alg="PS256"))

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("curve", "alg"), [("P-384", "ES384"), ("P-521", "ES512")])
def test_the_larger_ec_curves_sign_with_their_own_algorithm(curve, alg):
    key = ClientKey(ECKey.generate_key(curve, parameters={"kid": "ec"}), alg)
    application = pkjwt_application(key)

    assert token_request(assertion(application, key)).status_code == 200
    # ES256 names P-256: no registered key is tried for it.
    p256 = ClientKey(ECKey.generate_key("P-256", parameters={"kid": "ec"}), "ES256")
    refused = token_request(sign(p256, claims_for(application.client_id)))
    assert refused.status_code == 401


def test_a_key_that_names_its_alg_is_used_with_that_alg_only():
    key = client_key("rsa")
    application = pkjwt_application(key)
    application.jwks = {"keys": [{**key.public(), "alg": "RS256"}]}
    application.save()

    assert token_request(sign(key, claims_for(application.client_id), alg="RS256")).status_code == 200
    assert AccessToken.objects.count() == 1
    refused = token_request(sign(key, claims_for(application.client_id), alg="PS256"))
    assert refused.status_code == 401


def test_the_client_id_may_be_sent_beside_the_assertion_when_it_is_the_same():
    application = pkjwt_application()

    response = token_request(assertion(application), client_id=application.client_id)

    assert response.status_code == 200, response.content


def test_a_client_id_other_than_the_assertions_is_refused():
    application, other = pkjwt_application(), pkjwt_application()

    assert_refused(token_request(assertion(application), client_id=other.client_id))


@pytest.mark.parametrize("aud", ["issuer", "token endpoint", "list"])
def test_the_audience_may_be_the_issuer_or_the_token_endpoint(settings, aud):
    application = pkjwt_application()
    value = {
        "issuer": settings.LATCH_ISSUER,
        "token endpoint": token_endpoint(),
        "list": ["https://other.example.org", token_endpoint()],
    }[aud]

    assert token_request(assertion(application, aud=value)).status_code == 200


def test_an_assertion_is_accepted_once():
    application = pkjwt_application()
    signed = assertion(application)
    assert token_request(signed).status_code == 200

    replay = token_request(signed)

    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
    assert AccessToken.objects.count() == 1


def test_the_same_jti_from_another_client_is_not_a_replay():
    first, second = pkjwt_application(), pkjwt_application()

    assert token_request(assertion(first, jti="shared")).status_code == 200
    assert token_request(assertion(second, jti="shared")).status_code == 200


def test_a_refused_assertion_does_not_use_up_its_jti():
    application = pkjwt_application()
    stranger = ClientKey(RSAKey.generate_key(2048, parameters={"kid": "key-1"}), "RS256")
    assert_refused(token_request(sign(stranger, claims_for(application.client_id, jti="once"))))

    assert token_request(assertion(application, jti="once")).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "https://evil.example.org/oauth/token"}, id="wrong aud"),
        pytest.param({"aud": None}, id="no aud"),
        pytest.param({"aud": "https://testserver/oauth/par"}, id="par aud at the token endpoint"),
        pytest.param({"exp": FromNow(-30)}, id="expired"),
        pytest.param({"exp": FromNow(3600)}, id="exp too far"),
        pytest.param({"exp": None}, id="no exp"),
        pytest.param({"exp": "soon"}, id="exp not a number"),
        pytest.param({"exp": float("nan")}, id="exp NaN"),
        pytest.param({"exp": float("inf")}, id="exp Infinity"),
        pytest.param({"exp": 10**400}, id="exp beyond a float"),
        pytest.param({"exp": True}, id="exp a boolean"),
        pytest.param({"iat": float("nan")}, id="iat NaN"),
        pytest.param({"jti": None}, id="no jti"),
        pytest.param({"jti": ""}, id="empty jti"),
        pytest.param({"jti": "j" * 257}, id="jti too long"),
        pytest.param({"iss": "someone-else"}, id="iss not sub"),
        pytest.param({"sub": None}, id="no sub"),
        pytest.param({"iat": FromNow(120)}, id="iat in the future"),
        pytest.param({"nbf": FromNow(120)}, id="nbf in the future"),
    ],
)
def test_an_assertion_with_bad_claims_is_refused(overrides):
    application = pkjwt_application()
    claims = {
        name: value.at(time.time()) if isinstance(value, FromNow) else value
        for name, value in overrides.items()
    }

    assert_refused(token_request(assertion(application, **claims)))


def test_exp_within_the_limit_setting_is_accepted_beyond_it_refused(settings):
    settings.LATCH_CLIENT_ASSERTION_MAX_SECONDS = 600
    application = pkjwt_application()

    assert token_request(assertion(application, exp=int(time.time()) + 620)).status_code == 401
    assert token_request(assertion(application, exp=int(time.time()) + 590)).status_code == 200


def test_an_assertion_signed_by_another_clients_key_is_refused():
    application = pkjwt_application(client_key("rsa"))
    other_key = client_key("rsa", kid="other")
    pkjwt_application(other_key)

    # The other client's key, claiming this client (with and without its own kid).
    assert_refused(token_request(sign(other_key, claims_for(application.client_id))))
    assert_refused(token_request(sign(other_key, claims_for(application.client_id), kid="key-1")))


def test_an_unknown_kid_is_refused():
    application = pkjwt_application()

    assert_refused(token_request(sign(client_key(), claims_for(application.client_id), kid="unknown")))


def test_without_a_kid_every_registered_key_of_the_algorithms_type_is_tried():
    rsa, ec = client_key("rsa", kid="a"), client_key("ec", kid="b")
    application = pkjwt_application(rsa, ec)

    assert token_request(sign(ec, claims_for(application.client_id), kid=None)).status_code == 200


def test_alg_none_is_refused():
    application = pkjwt_application()

    assert_refused(token_request(unsigned(claims_for(application.client_id))))


def test_hs256_is_refused_whatever_it_is_signed_with():
    """client_secret_jwt is not offered: not with the stored secret, nor the public key as a secret."""
    application = pkjwt_application()
    public_modulus = client_key().public()["n"]
    for secret in (public_modulus, "a" * 32):
        signed = jwt.encode(
            {"alg": "HS256", "kid": "key-1"},
            claims_for(application.client_id),
            OctKey.import_key(secret),
            algorithms=["HS256"],
        )
        assert_refused(token_request(signed))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not-a-jwt",
        "a.b.c",
        "e30.e30.",
        "e30.e30.c2ln",
        "\x00",
        "x" * 9000,
        "eyJhbGciOiJSUzI1NiJ9.!!!.sig",
    ],
)
def test_garbage_assertions_are_refused_without_an_error(garbage):
    pkjwt_application()

    assert_refused(token_request(garbage))


def test_a_wrong_assertion_type_is_refused():
    application = pkjwt_application()
    body = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        "client_assertion": assertion(application),
    }

    assert_refused(Client().post("/oauth/token", body))


def test_an_assertion_type_without_an_assertion_is_refused():
    application = pkjwt_application()
    body = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}

    assert_refused(Client().post("/oauth/token", {**body, "client_id": application.client_id}))


def test_an_assertion_with_a_secret_beside_it_is_refused():
    """RFC 6749 §2.3: one authentication method per request."""
    application = service_application()
    keyed = pkjwt_application()

    assert_refused(token_request(assertion(keyed), headers=flow.app_auth(application)))
    assert_refused(token_request(assertion(keyed), client_secret="anything"))


def test_an_assertion_for_an_app_not_registered_for_private_key_jwt_is_refused():
    """Its keys are registered, but its method is a secret."""
    key = client_key()
    application = service_application(jwks={"keys": [key.public()]})

    assert_refused(token_request(assertion(application, key)))


def test_an_assertion_for_an_unknown_client_is_refused():
    application = pkjwt_application()
    application.delete()

    assert_refused(token_request(assertion(application)))


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"basic": ""}, id="empty secret in Basic"),
        pytest.param({"body": ""}, id="client_id alone in the body"),
        pytest.param({"body": "guess"}, id="a secret in the body"),
    ],
)
def test_a_private_key_jwt_app_accepts_no_secret(credentials):
    """Its stored secret is empty: without this refusal an empty secret would match it."""
    application = pkjwt_application()
    body = {"grant_type": "client_credentials", "scope": "member-read"}
    if "basic" in credentials:
        response = Client().post(
            "/oauth/token", body, **flow.basic_auth(application.client_id, credentials["basic"])
        )
    else:
        body["client_id"] = application.client_id
        if credentials["body"]:
            body["client_secret"] = credentials["body"]
        response = Client().post("/oauth/token", body)

    assert_refused(response)


def test_an_app_registered_for_client_secret_basic_refuses_its_secret_in_the_body():
    application = service_application(token_endpoint_auth_method="client_secret_basic")
    body = {"grant_type": "client_credentials", "scope": "member-read", "client_id": application.client_id}

    assert_refused(Client().post("/oauth/token", {**body, "client_secret": application.secret}))
    assert flow.client_credentials(Client(), application, scope="member-read").status_code == 200


def test_an_app_registered_for_client_secret_post_refuses_http_basic():
    application = service_application(token_endpoint_auth_method="client_secret_post")
    body = {"grant_type": "client_credentials", "scope": "member-read"}

    assert_refused(flow.client_credentials(Client(), application, scope="member-read"))
    response = Client().post(
        "/oauth/token", {**body, "client_id": application.client_id, "client_secret": application.secret}
    )
    assert response.status_code == 200


def test_failures_count_against_the_client_the_assertion_claims(settings):
    """Past the per-client limit its failures get 429, but its key cannot be guessed: a good
    assertion still gets its token (nobody can lock a private_key_jwt app out)."""
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT = 2
    application = pkjwt_application()
    refused = [token_request(assertion(application, aud="https://evil.example.org")) for _ in range(3)]

    assert [response.status_code for response in refused] == [401, 401, 429]
    assert token_request(assertion(application)).status_code == 200


def test_a_private_key_jwt_app_can_redeem_an_authorization_code(browser):
    application = pkjwt_application(grant_type="authorization_code", allowed_scopes=["openid", "member-read"])
    code, verifier = flow.obtain_code(browser, application, "openid member-read")
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": "https://app.example.org/callback",
        **assertion_body(assertion(application)),
    }

    response = Client().post("/oauth/token", body)

    assert response.status_code == 200, response.content
    assert "id_token" in response.json()
