"""ID tokens from the code flow, verified the way a relying party does: with the published JWKS."""

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.test import Client
from jwcrypto import jwk, jws, jwt
from jwcrypto.common import JWException, base64url_decode, base64url_encode, json_decode
from oauthlib.openid.connect.core.grant_types import base as oidc_grant_base

from apps.accounts.sessions import SIGNED_IN_AT
from apps.oauth.models import IDToken
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

ISSUER = "https://testserver"
NONCE = "n-0S6_WzA2Mj"
# Claims every ID token carries, whatever the scope. (`amr` too, for a member who signed in through
# the sign-in page; these browsers are force_login's, which records no method: tests/oauth/test_acr.py.)
# `sid`: the browser session the member signed in with (OIDC Back-Channel Logout §2.1).
BASE_CLAIMS = {"iss", "sub", "aud", "exp", "iat", "auth_time", "jti", "at_hash", "acr", "sid"}


def token_response(browser, application, scope: str, nonce: str | None = NONCE) -> dict:
    code, verifier = flow.get_code(browser, application, scope, nonce=nonce)
    response = flow.redeem(Client(), application, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def published_key() -> jwk.JWK:
    (key,) = Client().get("/oauth/jwks").json()["keys"]
    return jwk.JWK(**key)


def verify(id_token: str, application, nonce: str | None = NONCE) -> dict:
    """Verify signature (RS256 only), issuer, audience, nonce and expiry; return the claims."""
    check_claims = {"iss": ISSUER, "aud": application.client_id, "exp": None, "iat": None, "sub": None}
    if nonce is not None:
        check_claims["nonce"] = nonce
    token = jwt.JWT(key=published_key(), jwt=id_token, algs=["RS256"], check_claims=check_claims)
    return json.loads(token.claims)


def tamper(segment: str) -> str:
    """Change one character in the middle of a base64url segment (never only padding bits)."""
    middle = len(segment) // 2
    replacement = "A" if segment[middle] != "A" else "B"
    return segment[:middle] + replacement + segment[middle + 1 :]


def test_id_token_verifies_with_the_published_rs256_key(browser, application):
    id_token = token_response(browser, application, "openid profile email")["id_token"]

    claims = verify(id_token, application)

    header = jws.JWS.from_jose_token(id_token).jose_header
    assert header["alg"] == "RS256"
    assert header["kid"] == published_key()["kid"]
    assert claims["iss"] == "https://testserver"
    assert claims["aud"] == application.client_id
    assert claims["nonce"] == NONCE


def test_id_token_is_valid_for_one_hour_from_issue(browser, application, monkeypatch):
    code, verifier = flow.get_code(browser, application, "openid", nonce=NONCE)
    # Freeze both clocks the ID token is built from (oauthlib's iat, DOT's exp) at one instant,
    # so that a second boundary crossed mid-request cannot make exp - iat 3601.
    issued_at = int(time.time())
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime.fromtimestamp(issued_at, tz=UTC))
    monkeypatch.setattr(oidc_grant_base, "time", SimpleNamespace(time=lambda: issued_at))
    body = flow.redeem(Client(), application, code, verifier).json()
    monkeypatch.undo()

    claims = verify(body["id_token"], application)

    assert claims["iat"] == issued_at
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["exp"] > time.time()


def test_id_token_sub_is_the_public_id_not_the_database_key(browser, application, member):
    claims = verify(token_response(browser, application, "openid")["id_token"], application)

    assert claims["sub"] == str(member.public_id)
    assert claims["sub"] != str(member.pk)


def test_auth_time_is_when_the_member_signed_in(browser, application, member):
    claims = verify(token_response(browser, application, "openid")["id_token"], application)

    signed_in_at = datetime.fromisoformat(browser.session[SIGNED_IN_AT])
    assert claims["auth_time"] == int(signed_in_at.timestamp())


def test_auth_time_is_this_browsers_sign_in_and_refreshes_keep_it(browser, application, member):
    """OIDC Core §12.2: a refreshed id_token describes the original authentication."""
    signed_in_at = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    flow.set_signed_in_at(browser, signed_in_at)
    first = token_response(browser, application, "openid offline_access")
    Client().force_login(member)  # a later sign-in elsewhere moves last_login, not this sign-in

    refreshed = flow.refresh(Client(), application, first["refresh_token"]).json()

    assert verify(first["id_token"], application)["auth_time"] == int(signed_in_at.timestamp())
    assert verify(refreshed["id_token"], application, nonce=None)["auth_time"] == int(
        signed_in_at.timestamp()
    )


def test_openid_alone_carries_no_profile_or_email_claims(browser, application):
    claims = verify(token_response(browser, application, "openid")["id_token"], application)

    assert set(claims) == BASE_CLAIMS | {"nonce"}


def test_profile_claims_come_only_with_the_profile_scope(browser, application, member):
    claims = verify(token_response(browser, application, "openid profile")["id_token"], application)

    member.refresh_from_db()
    assert set(claims) == BASE_CLAIMS | {"nonce", "name", "given_name", "family_name", "updated_at"}
    assert claims["name"] == "Ada Lovelace"
    assert claims["given_name"] == "Ada"
    assert claims["family_name"] == "Lovelace"
    assert claims["updated_at"] == int(member.updated_at.timestamp())


def test_email_claims_come_only_with_the_email_scope(browser, application):
    claims = verify(token_response(browser, application, "openid email")["id_token"], application)

    assert set(claims) == BASE_CLAIMS | {"nonce", "email", "email_verified"}
    assert claims["email"] == "ada@example.org"
    assert claims["email_verified"] is True


def test_profile_and_email_together_carry_both_sets_of_claims(browser, application):
    claims = verify(token_response(browser, application, "openid profile email")["id_token"], application)

    assert {key: claims[key] for key in ("name", "given_name", "family_name", "email", "email_verified")} == {
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada@example.org",
        "email_verified": True,
    }


def test_email_verified_reflects_the_account():
    member = UserFactory(email="unverified@example.org", email_verified=False)
    browser = Client()
    browser.force_login(member)
    application = ApplicationFactory()

    claims = verify(token_response(browser, application, "openid email")["id_token"], application)

    assert claims["email"] == "unverified@example.org"
    assert claims["email_verified"] is False


def test_api_scopes_add_no_claims_to_the_id_token(browser, application):
    claims = verify(
        token_response(browser, application, "openid member-read offline_access")["id_token"], application
    )

    assert set(claims) == BASE_CLAIMS | {"nonce"}


def test_without_a_nonce_the_id_token_has_no_nonce_claim(browser, application):
    claims = verify(token_response(browser, application, "openid", nonce=None)["id_token"], application, None)

    assert "nonce" not in claims


def test_id_token_is_recorded_for_the_member_and_application(browser, application, member):
    claims = verify(token_response(browser, application, "openid")["id_token"], application)

    record = IDToken.objects.get(jti=claims["jti"])
    assert record.user == member
    assert record.application == application


def test_id_token_with_a_tampered_signature_fails_verification(browser, application):
    id_token = token_response(browser, application, "openid")["id_token"]
    header, payload, signature = id_token.split(".")
    forged = f"{header}.{payload}.{tamper(signature)}"

    with pytest.raises(jws.InvalidJWSSignature):
        verify(forged, application)


def test_id_token_with_a_tampered_payload_fails_verification(browser, application):
    id_token = token_response(browser, application, "openid")["id_token"]
    header, payload, signature = id_token.split(".")
    claims = json_decode(base64url_decode(payload))
    claims["sub"] = "someone-else"
    forged_payload = base64url_encode(json.dumps(claims))

    with pytest.raises(jws.InvalidJWSSignature):
        verify(f"{header}.{forged_payload}.{signature}", application)


def test_id_token_for_another_audience_fails_verification(browser, application):
    id_token = token_response(browser, application, "openid")["id_token"]
    other = ApplicationFactory()

    with pytest.raises(JWException):
        verify(id_token, other)


def test_id_token_with_the_wrong_nonce_fails_verification(browser, application):
    id_token = token_response(browser, application, "openid")["id_token"]

    with pytest.raises(JWException):
        verify(id_token, application, nonce="replayed-nonce")


def test_no_id_token_without_the_openid_scope(browser, application):
    body = token_response(browser, application, "profile email member-read")

    assert "id_token" not in body
    assert body["access_token"]
    assert set(body["scope"].split()) == {"profile", "email", "member-read"}
    assert not IDToken.objects.exists()
