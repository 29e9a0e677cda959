import json

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, Grant, RefreshToken
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, public_application

pytestmark = pytest.mark.django_db


def test_confidential_client_gets_tokens_with_code_and_pkce(browser, member):
    application = ApplicationFactory()
    code, verifier = flow.get_code(
        browser, application, "openid profile email offline_access member-read", nonce="n-1"
    )

    response = flow.redeem(Client(), application, code, verifier)

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"openid", "profile", "email", "offline_access", "member-read"}
    assert body["refresh_token"]
    assert body["access_token"]
    assert body["id_token"]
    assert isinstance(body["created_at"], int)
    assert body["member"] == {"id": str(member.public_id), "name": "Ada Lovelace", "email": "ada@example.org"}


def test_public_client_gets_tokens_with_pkce_and_no_secret(browser):
    application = public_application()
    code, verifier = flow.get_code(browser, application, "member-read")

    response = flow.redeem(Client(), application, code, verifier)

    assert response.status_code == 200, response.content
    assert "refresh_token" not in response.json()


def test_staff_token_response_names_the_admin(member):
    staff = UserFactory(is_staff=True)
    browser = Client()
    browser.force_login(staff)
    application = ApplicationFactory()
    code, verifier = flow.get_code(browser, application, "member-read")

    body = flow.redeem(Client(), application, code, verifier).json()

    assert "member" not in body
    assert body["admin"]["id"] == str(staff.public_id)


def test_consent_page_shows_the_app_and_each_scope_description(browser):
    application = ApplicationFactory(
        name="Planner <b>", description="Plans things", homepage_url="https://planner.example.org/"
    )
    _, challenge = flow.pkce_pair()

    page = flow.consent_page(browser, application, "openid member-read", challenge)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Planner &lt;b&gt;" in html
    assert "Plans things" in html
    assert "See your membership record and the member directory" in html
    assert "Sign you in with your Latch account" in html
    assert 'name="allow"' in html


def test_deny_redirects_with_access_denied_and_issues_nothing(browser):
    application = ApplicationFactory()
    _, challenge = flow.pkce_pair()

    response = flow.submit_consent(browser, application, "member-read", challenge, allow=False)

    params = flow.redirect_params(response)
    assert params["error"] == "access_denied"
    assert params["state"] == "state-123"
    assert not Grant.objects.exists()


def test_authorization_response_carries_state_and_issuer(browser):
    application = ApplicationFactory()
    _, challenge = flow.pkce_pair()

    params = flow.redirect_params(
        flow.submit_consent(browser, application, "member-read", challenge, allow=True)
    )

    assert params["state"] == "state-123"
    assert params["iss"] == "https://testserver"


def test_anonymous_member_is_sent_to_sign_in_first():
    application = ApplicationFactory()
    _, challenge = flow.pkce_pair()

    response = flow.consent_page(Client(), application, "member-read", challenge)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/oauth/authorize")


def test_reused_code_is_refused_and_revokes_the_tokens_issued_from_it(browser):
    application = ApplicationFactory()
    code, verifier = flow.get_code(browser, application, "member-read offline_access")
    first = flow.redeem(Client(), application, code, verifier).json()
    assert AccessToken.objects.count() == 1

    replay = flow.redeem(Client(), application, code, verifier)

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()
    assert RefreshToken.objects.get().revoked is not None
    assert flow.refresh(Client(), application, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_userinfo_and_id_token_use_the_public_id(browser, member):
    application = ApplicationFactory()
    code, verifier = flow.get_code(browser, application, "openid email")
    body = flow.redeem(Client(), application, code, verifier).json()

    userinfo = Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")

    assert userinfo.status_code == 200
    claims = json.loads(userinfo.content)
    assert claims == {"sub": str(member.public_id), "email": member.email, "email_verified": True}
