"""A fresh sign-in (prompt=login, max_age, a second factor for a session without a password) is
asked for without signing the member out: a GET must never end a session, or any page could sign
members out with an <img>. The session ends only when the new sign-in replaces it."""

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from allauth.account.authentication import get_authentication_records
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.mfa import session_authentication
from apps.accounts.models import HashedKeySession
from apps.core.fields import Digest, sha256_hex
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.mfa import activate_totp, recovery_codes, sign_in_with_code, totp_code
from tests.oauth import flow
from tests.oauth.factories import pkce_pair
from tests.oauth.test_id_token import verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def password_browser(password_browser) -> Client:
    """The member signed in with their password an hour ago."""
    flow.set_signed_in_at(password_browser, timezone.now() - timedelta(hours=1))
    return password_browser


def authorize_path(application, verifier_challenge: tuple[str, str], **extra) -> str:
    params = flow.authorize_params(application, "openid", verifier_challenge[1], **extra)
    return "/oauth/authorize?" + urlencode(params)


def login_next(response) -> str:
    assert response.status_code == 302, response.content
    location = urlparse(response["Location"])
    assert location.path == reverse("account_login")
    return parse_qs(location.query)["next"][0]


def signed_in_user_id(browser: Client) -> str | None:
    return browser.session.get("_auth_user_id")


def allow_openid(browser: Client, application) -> None:
    response = flow.submit_consent(browser, application, "openid", pkce_pair()[1], allow=True)
    assert "code" in flow.redirect_params(response)


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "60"}, {"max_age": "0"}])
def test_a_get_asking_for_a_fresh_sign_in_leaves_the_member_signed_in(
    password_browser, member, application, extra
):
    session_key = password_browser.session.session_key

    response = password_browser.get(authorize_path(application, pkce_pair(), **extra))

    assert login_next(response)
    assert signed_in_user_id(password_browser) == str(member.pk)
    assert password_browser.session.session_key == session_key
    assert HashedKeySession.objects.filter(user=member).count() == 1


def test_the_sign_in_page_shows_its_form_to_a_signed_in_member_sent_for_a_fresh_sign_in(
    password_browser, application
):
    next_url = login_next(password_browser.get(authorize_path(application, pkce_pair(), prompt="login")))

    page = password_browser.get(reverse("account_login"), {"next": next_url})

    assert page.status_code == 200
    assert "form" in page.context
    assert "You are signed in as <strong>ada@example.org</strong>" in page.content.decode()


def test_signing_in_again_issues_a_code_whose_id_token_has_the_new_auth_time(
    password_browser, member, application
):
    allow_openid(password_browser, application)
    verifier, challenge = pkce_pair()
    next_url = login_next(
        password_browser.get(authorize_path(application, (verifier, challenge), prompt="login"))
    )
    before = timezone.now().replace(microsecond=0)

    signed_in = password_browser.post(
        reverse("account_login"), {"login": member.email, "password": PASSWORD, "next": next_url}
    )
    assert signed_in["Location"] == next_url
    code = flow.redirect_params(password_browser.get(next_url))["code"]

    body = flow.redeem(Client(), application, code, verifier).json()
    claims = verify(body["id_token"], application, nonce=None)
    assert claims["auth_time"] >= before.timestamp()
    assert claims["amr"] == ["pwd"]


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}, {"max_age": "60"}])
def test_coming_back_without_signing_in_asks_again(password_browser, application, extra):
    allow_openid(password_browser, application)
    next_url = login_next(password_browser.get(authorize_path(application, pkce_pair(), **extra)))

    again = password_browser.get(next_url)

    assert login_next(again) == next_url
    assert login_next(password_browser.get(next_url)) == next_url  # and again: never a code


def test_the_fresh_sign_in_is_asked_for_that_request_only(password_browser, application):
    allow_openid(password_browser, application)
    login_next(password_browser.get(authorize_path(application, pkce_pair(), prompt="login")))

    other = password_browser.get(authorize_path(application, pkce_pair()))

    assert "code" in flow.redirect_params(other)


def test_a_different_member_signing_in_replaces_the_session(password_browser, member, application):
    old_key = password_browser.session.session_key
    other = UserFactory(email="grace@example.org")
    next_url = login_next(password_browser.get(authorize_path(application, pkce_pair(), prompt="login")))

    password_browser.post(
        reverse("account_login"), {"login": other.email, "password": PASSWORD, "next": next_url}
    )

    assert signed_in_user_id(password_browser) == str(other.pk)
    assert password_browser.session.session_key != old_key
    assert not HashedKeySession.objects.filter(user=member).exists()
    page = password_browser.get(next_url)
    assert page.status_code == 200  # Grace has not allowed the app: her own consent page
    assert page.context["user"] == other


def test_signing_in_again_as_the_same_member_starts_a_new_session_with_only_the_new_sign_in(
    member, application
):
    browser = Client()
    secret = activate_totp(member)
    sign_in_with_code(browser, member, totp_code(secret))
    old_key = browser.session.session_key
    next_url = login_next(browser.get(authorize_path(application, pkce_pair(), prompt="login")))

    sign_in_with_code(browser, member, recovery_codes(member)[0], next=next_url)  # a TOTP code works once

    assert browser.session.session_key != old_key
    assert not HashedKeySession.objects.filter(session_key=Digest(sha256_hex(old_key))).exists()
    request = browser.get(next_url).wsgi_request
    records = get_authentication_records(request, member)
    assert [record["method"] for record in records] == ["password", "mfa"]
    assert session_authentication(request).multi_factor


def test_a_session_without_a_password_is_asked_to_sign_in_and_stays_signed_in_meanwhile(member, application):
    activate_totp(member)
    browser = Client()
    browser.force_login(member)  # a sign-in that recorded no password (as an upstream one)
    path = authorize_path(application, pkce_pair(), acr_values="urn:latch:acr:mfa")

    next_url = login_next(browser.get(path))

    assert next_url == path
    assert signed_in_user_id(browser) == str(member.pk)
    assert login_next(browser.get(path)) == path  # coming back without signing in: asked again
