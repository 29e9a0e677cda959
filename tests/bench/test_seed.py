"""The benchmark's seeded clients get the answers its scenarios expect from today's rules."""

import pytest
from django.test import Client
from joserfc import jwt
from joserfc.jwk import KeySet

from bench import seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def fixtures() -> seed.Fixtures:
    return seed.seed_fixtures(2)


def test_the_seeded_service_introspects_the_web_apps_tokens_as_active(fixtures):
    (token,) = seed.mint_access_tokens(fixtures.web.application, fixtures.user_ids, seed.MEMBER_SCOPE, 1)

    response = Client().post(
        "/oauth/introspect",
        {"token": token, "token_type_hint": "access_token"},
        HTTP_AUTHORIZATION=fixtures.service.basic_auth,
    )

    assert response.json()["active"] is True


def test_a_seeded_code_is_redeemed_with_its_pkce_verifier(fixtures):
    ((code, verifier),) = seed.mint_codes(fixtures.web.application, fixtures.user_ids, 1)

    response = Client().post(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": seed.REDIRECT_URI,
        },
        HTTP_AUTHORIZATION=fixtures.web.basic_auth,
    )

    assert response.status_code == 200, response.content
    assert "id_token" in response.json()


def test_seeded_dpop_requests_each_carry_a_fresh_proof_by_the_tokens_key(fixtures):
    url = "http://testserver/api/v1/members/me"

    lines = seed.mint_dpop_requests(fixtures.web.application, fixtures.user_ids, seed.MEMBER_SCOPE, 3, url)

    for token, proof in lines:
        response = Client().get(url, HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=proof)
        assert response.status_code == 200, response.content
        assert '"sub"' in response.content.decode()
    assert len({proof for _, proof in lines}) == 3


def test_seeded_jwt_access_tokens_are_signed_at_jwts_the_api_accepts(fixtures):
    application = fixtures.jwt_web
    (token,) = seed.mint_jwt_access_tokens(application, fixtures.user_ids, seed.MEMBER_SCOPE, 1)

    keys = KeySet.import_key_set(Client().get("/oauth/jwks").json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.claims["client_id"] == application.client_id
    assert decoded.claims["exp"] - decoded.claims["iat"] == application.access_token_lifetime
    response = Client().get("/api/v1/members/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert '"sub"' in response.content.decode()


def test_seeded_client_assertions_each_get_a_token_once(fixtures):
    lines = seed.mint_client_assertions(fixtures.keyed, 2)

    for (assertion,) in lines:
        body = {
            "grant_type": "client_credentials",
            "scope": "member-read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }
        assert Client().post("/oauth/token", body).status_code == 200
        assert Client().post("/oauth/token", body).status_code == 401  # its jti is spent
    assert len({assertion for (assertion,) in lines}) == 2
