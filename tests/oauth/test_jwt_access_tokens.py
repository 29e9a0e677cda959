"""RFC 9068 JWT access tokens for apps that ask for them: what they say, and that Latch still
refuses them once revoked. Tokens are verified with joserfc against the JSON /oauth/jwks serves,
not with the code that signed them."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet, RSAKey

from apps.oauth.models import AccessToken, Application, Grant
from apps.oauth.validators import token_checksum
from tests.dpop.proofs import ProofKey
from tests.members.factories import member_with_login
from tests.oauth import device, flow
from tests.oauth.factories import ApplicationFactory, service_application

pytestmark = pytest.mark.django_db

ISSUER = "https://latch.example.org"
API_AUDIENCE = ISSUER + "/api/v1"
SIGN_IN_SCOPE = "openid member-read offline_access"
PERSONAL_CLAIMS = {"email", "name", "given_name", "family_name", "email_verified", "updated_at"}


@pytest.fixture(autouse=True)
def issuer(settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": ISSUER}


@pytest.fixture
def member():
    return member_with_login().user


@pytest.fixture
def jwt_app():
    return ApplicationFactory(access_token_format="jwt", access_token_lifetime=300)


def published_keys() -> KeySet:
    response = Client().get("/oauth/jwks")
    assert response.status_code == 200
    return KeySet.import_key_set(response.json())


def verified(token: str) -> jwt.Token:
    """The token's header and claims, if its signature verifies with a key /oauth/jwks publishes."""
    return jwt.decode(token, published_keys(), algorithms=["RS256"])


def stored(token: str) -> AccessToken:
    return AccessToken.objects.get(token_checksum=token_checksum(token))


def api_me(token: str, scheme: str = "Bearer", **headers):
    return Client().get("/api/v1/members/me", HTTP_AUTHORIZATION=f"{scheme} {token}", **headers)


def b64url_json(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def b64url_decode_json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --- What a JWT access token says ----------------------------------------------------------------


def test_a_jwt_apps_code_flow_gives_a_signed_at_jwt_with_every_rfc_9068_claim(member, jwt_app):
    tokens = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)

    token = verified(tokens["access_token"])
    id_token = verified(tokens["id_token"])

    assert token.header["typ"] == "at+jwt"
    assert token.header["alg"] == "RS256"
    assert token.header["kid"] in {key.kid for key in published_keys()}
    claims = token.claims
    assert claims["iss"] == ISSUER
    assert claims["sub"] == id_token.claims["sub"] == str(member.public_id)
    assert claims["aud"] == API_AUDIENCE
    assert claims["client_id"] == jwt_app.client_id
    assert claims["scope"] == SIGN_IN_SCOPE
    assert claims["exp"] - claims["iat"] == 300
    assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 5
    assert claims["auth_time"] == id_token.claims["auth_time"]
    assert claims["acr"] == id_token.claims["acr"]
    assert "cnf" not in claims
    assert not PERSONAL_CLAIMS & set(claims)
    # OIDC Core §3.1.3.6: the id_token's at_hash is of the JWT, so the JWT was final before it.
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()[:16]
    assert id_token.claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    row = stored(tokens["access_token"])
    assert row.jti == claims["jti"]
    assert len(row.jti) >= 22
    assert row.token_prefix == ""  # every JWT starts with "eyJ"; the admin shows the jti instead


def test_the_jti_is_new_for_every_token(member, jwt_app):
    first = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)
    second = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)

    assert verified(first["access_token"]).claims["jti"] != verified(second["access_token"]).claims["jti"]


def test_client_credentials_jwt_has_the_client_id_as_sub_and_no_sign_in():
    service = service_application(access_token_format="jwt")

    response = flow.client_credentials(Client(), service, scope="member-read")

    assert response.status_code == 200, response.content
    claims = verified(response.json()["access_token"]).claims
    assert claims["sub"] == claims["client_id"] == service.client_id
    assert claims["scope"] == "member-read"
    assert claims["aud"] == API_AUDIENCE
    assert not {"auth_time", "acr", "amr"} & set(claims)


def test_device_code_grant_gives_a_jwt_for_the_member_who_approved(member):
    app = device.device_application(access_token_format="jwt")
    codes = device.codes(app, "openid member-read")
    browser = Client()
    browser.force_login(member)
    device.answer(browser, codes["user_code"], allow=True)

    response = device.poll(Client(), app, codes["device_code"])

    assert response.status_code == 200, response.content
    claims = verified(response.json()["access_token"]).claims
    assert claims["sub"] == str(member.public_id)
    assert claims["client_id"] == app.client_id
    assert "acr" in claims


def test_refresh_gives_a_new_jwt_with_a_new_jti_and_the_old_one_stops_working(member, jwt_app):
    tokens = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)

    response = flow.refresh(Client(), jwt_app, tokens["refresh_token"])

    assert response.status_code == 200, response.content
    fresh = response.json()
    old_claims, new_claims = verified(tokens["access_token"]).claims, verified(fresh["access_token"]).claims
    assert new_claims["jti"] != old_claims["jti"]
    assert new_claims["sub"] == old_claims["sub"]
    assert new_claims["auth_time"] == old_claims["auth_time"]  # the sign-in the chain began with
    assert api_me(fresh["access_token"]).status_code == 200
    # Still a perfectly signed, unexpired JWT; Latch deleted its row when it rotated the refresh token.
    assert api_me(tokens["access_token"]).status_code == 401
    assert "." not in fresh["refresh_token"]  # refresh tokens stay opaque


def test_a_dpop_bound_jwt_names_the_key_and_still_needs_its_proof(member):
    service = service_application(access_token_format="jwt")
    key = ProofKey()

    response = flow.client_credentials(Client(HTTP_DPOP=key.proof()), service, scope="member-read")

    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"
    token = response.json()["access_token"]
    assert verified(token).claims["cnf"] == {"jkt": key.jkt}
    directory = "http://testserver/api/v1/members"
    with_proof = key.proof("GET", directory, access_token=token)
    assert (
        Client().get("/api/v1/members", HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=with_proof).status_code
        == 200
    )
    assert Client().get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert Client().get("/api/v1/members", HTTP_AUTHORIZATION=f"DPoP {token}").status_code == 401
    other_key = ProofKey().proof("GET", directory, access_token=token)
    assert (
        Client().get("/api/v1/members", HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=other_key).status_code
        == 401
    )


# --- Audience: the RFC 8707 resources ------------------------------------------------------------

FILES = "https://files.example.org"
SHOP = "https://shop.example.org"


def _code_for_resources(member, application, resources: list[str]) -> tuple[str, str]:
    browser = Client()
    browser.force_login(member)
    code, verifier = flow.get_code(browser, application, SIGN_IN_SCOPE)
    Grant.objects.update(resource=resources)  # as the authorization endpoint stores them
    return code, verifier


def test_the_audience_is_every_resource_of_the_code(member, jwt_app):
    response = flow.redeem(Client(), jwt_app, *_code_for_resources(member, jwt_app, [FILES, SHOP]))

    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert verified(token).claims["aud"] == [FILES, SHOP]
    assert stored(token).resource == [FILES, SHOP]


def test_a_narrowed_resource_is_the_only_audience_and_a_refresh_keeps_it(member, jwt_app):
    code = _code_for_resources(member, jwt_app, [FILES, SHOP])
    tokens = flow.redeem(Client(), jwt_app, *code, resource=SHOP).json()

    assert verified(tokens["access_token"]).claims["aud"] == SHOP
    refreshed = flow.refresh(Client(), jwt_app, tokens["refresh_token"]).json()
    assert verified(refreshed["access_token"]).claims["aud"] == SHOP
    assert stored(refreshed["access_token"]).resource == [SHOP]


def test_a_resource_outside_the_code_is_invalid_target_and_stores_nothing(member, jwt_app):
    code = _code_for_resources(member, jwt_app, [FILES])

    response = flow.redeem(Client(), jwt_app, *code, resource="https://elsewhere.example.org")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    assert not AccessToken.objects.exists()
    assert Grant.objects.get().redeemed_at is None


def test_client_credentials_with_a_resource_has_it_as_audience():
    service = service_application(access_token_format="jwt")

    response = flow.client_credentials(Client(), service, scope="member-read", resource=FILES)

    assert response.status_code == 200, response.content
    assert verified(response.json()["access_token"]).claims["aud"] == FILES


# --- Lifetimes: one number for the response, the row and the JWT ---------------------------------


def test_the_apps_lifetime_is_expires_in_the_rows_expiry_and_the_jwts_exp(member, jwt_app):
    tokens = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)

    claims = verified(tokens["access_token"]).claims
    assert tokens["expires_in"] == 300
    assert stored(tokens["access_token"]).expires == datetime.fromtimestamp(claims["exp"], tz=UTC)
    assert tokens["created_at"] == claims["iat"]


def test_an_opaque_apps_lifetime_applies_to_its_opaque_tokens(member):
    app = ApplicationFactory(access_token_lifetime=120)

    tokens = flow.obtain_tokens(member, app, SIGN_IN_SCOPE)

    assert tokens["expires_in"] == 120
    left = stored(tokens["access_token"]).expires - timezone.now()
    assert timedelta(seconds=115) < left <= timedelta(seconds=120)


def test_an_app_without_a_lifetime_gets_the_servers_default(member, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ACCESS_TOKEN_EXPIRE_SECONDS": 900}
    app = ApplicationFactory(access_token_format="jwt")

    tokens = flow.obtain_tokens(member, app, SIGN_IN_SCOPE)

    assert tokens["expires_in"] == 900
    claims = verified(tokens["access_token"]).claims
    assert claims["exp"] - claims["iat"] == 900


def test_the_lifetime_applies_to_client_credentials_and_refresh_too(member):
    service = service_application(access_token_lifetime=60)
    assert flow.client_credentials(Client(), service, scope="member-read").json()["expires_in"] == 60
    app = ApplicationFactory(access_token_format="jwt", access_token_lifetime=45)
    tokens = flow.obtain_tokens(member, app, SIGN_IN_SCOPE)
    refreshed = flow.refresh(Client(), app, tokens["refresh_token"]).json()
    assert refreshed["expires_in"] == 45
    claims = verified(refreshed["access_token"]).claims
    assert claims["exp"] - claims["iat"] == 45


def test_a_lifetime_of_zero_is_refused():
    with pytest.raises(ValidationError) as refused:
        ApplicationFactory(access_token_lifetime=0)
    assert "access_token_lifetime" in refused.value.message_dict


# --- Opaque apps are unchanged -------------------------------------------------------------------


def test_an_opaque_app_still_gets_opaque_tokens(member, application):
    tokens = flow.obtain_tokens(member, application, SIGN_IN_SCOPE)

    value = tokens["access_token"]
    assert "." not in value
    assert len(value) == 43
    row = stored(value)
    assert row.jti == ""
    assert row.token_prefix == value[:6]
    assert tokens["expires_in"] == 3600


# --- Latch's API: the digest decides, not the signature ------------------------------------------


def test_a_jwt_works_at_the_api_and_userinfo(member, jwt_app):
    tokens = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)

    response = api_me(tokens["access_token"])

    assert response.status_code == 200, response.content
    userinfo = Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == str(member.public_id)


def test_a_revoked_jwt_is_refused_at_the_api_though_its_signature_still_verifies(member, jwt_app):
    tokens = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)
    assert api_me(tokens["access_token"]).status_code == 200

    revoked = Client().post(
        "/oauth/revoke",
        {"token": tokens["access_token"], "token_type_hint": "access_token"},
        **flow.app_auth(jwt_app),
    )

    assert revoked.status_code == 200
    verified(tokens["access_token"])  # what a resource server checking locally would still accept
    response = api_me(tokens["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_sign_out_everywhere_stops_the_jwt_at_the_api(member, jwt_app):
    tokens = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)
    browser = Client()
    browser.force_login(member)

    assert browser.post("/accounts/sessions/end-all").status_code == 302

    assert api_me(tokens["access_token"]).status_code == 401


def test_an_expired_jwt_is_refused_at_the_api(member, jwt_app, monkeypatch):
    tokens = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)
    expiry = datetime.fromtimestamp(verified(tokens["access_token"]).claims["exp"], tz=UTC)

    monkeypatch.setattr(timezone, "now", lambda: expiry)

    assert api_me(tokens["access_token"]).status_code == 401


def test_a_tampered_jwt_is_refused_at_the_api(member, jwt_app):
    tokens = flow.obtain_tokens(member, jwt_app, "openid member-read")
    header, payload, signature = tokens["access_token"].split(".")
    claims = b64url_decode_json(payload)
    claims["scope"] += " checkout-write"
    tampered = ".".join([header, b64url_json(claims), signature])

    with pytest.raises(BadSignatureError):
        verified(tampered)
    assert api_me(tampered).status_code == 401


def test_a_jwt_signed_by_another_key_is_refused_at_the_api(member, jwt_app):
    tokens = flow.obtain_tokens(member, jwt_app, "openid member-read")
    genuine = jwt.decode(tokens["access_token"], published_keys(), algorithms=["RS256"])
    forged = jwt.encode(genuine.header, genuine.claims, RSAKey.generate_key(2048), algorithms=["RS256"])

    assert api_me(forged).status_code == 401


def test_an_id_token_is_not_an_access_token_at_the_api(member, jwt_app):
    """oauthlib sends JWT-shaped bearer values to validate_jwt_bearer_token, where DOT would accept
    a signed id_token whose row exists: it names the member and the app's scopes, but it is not an
    access token, and would outlive a revocation."""
    tokens = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)

    assert api_me(tokens["id_token"]).status_code == 401
    revoke = {"token": tokens["access_token"]}
    Client().post("/oauth/revoke", revoke, **flow.app_auth(jwt_app))
    assert api_me(tokens["id_token"]).status_code == 401


def test_introspection_of_a_jwt_answers_from_the_stored_row(member, jwt_app):
    tokens = flow.obtain_tokens(member, jwt_app, SIGN_IN_SCOPE)
    claims = verified(tokens["access_token"]).claims

    response = Client().post("/oauth/introspect", {"token": tokens["access_token"]}, **flow.app_auth(jwt_app))

    assert response.status_code == 200
    answer = response.json()
    assert answer["active"] is True
    assert (answer["sub"], answer["client_id"], answer["scope"]) == (
        claims["sub"],
        jwt_app.client_id,
        SIGN_IN_SCOPE,
    )
    assert (answer["exp"], answer["jti"]) == (claims["exp"], claims["jti"])

    Client().post("/oauth/revoke", {"token": tokens["access_token"]}, **flow.app_auth(jwt_app))
    again = Client().post("/oauth/introspect", {"token": tokens["access_token"]}, **flow.app_auth(jwt_app))
    assert again.json() == {"active": False}


# --- Registering a JWT app -----------------------------------------------------------------------


def test_create_client_registers_a_jwt_app_with_its_lifetime(capsys):
    call_command(
        "create_client",
        "Planner API",
        "--grant=client_credentials",
        "--client-type=confidential",
        "--scopes=member-read",
        "--access-token-format=jwt",
        "--access-token-lifetime=300",
        "--json",
    )

    credentials = json.loads(capsys.readouterr().out)
    app = Application.objects.get(client_id=credentials["client_id"])
    assert (app.access_token_format, app.access_token_lifetime) == ("jwt", 300)


def test_create_client_defaults_to_opaque_tokens_and_the_servers_lifetime(capsys):
    call_command(
        "create_client", "Kiosk", "--grant=client_credentials", "--client-type=confidential", "--json"
    )

    app = Application.objects.get(client_id=json.loads(capsys.readouterr().out)["client_id"])
    assert (app.access_token_format, app.access_token_lifetime) == ("opaque", None)
