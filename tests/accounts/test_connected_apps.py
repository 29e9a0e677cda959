import pytest
from django.test import Client

from apps.oauth.consent import grant
from apps.oauth.models import Consent
from tests.members.factories import member_with_login
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return member_with_login()


@pytest.fixture
def browser(member):
    browser = Client()
    browser.force_login(member.user)
    return browser


def test_connected_apps_lists_each_allowed_app_with_its_permissions_in_plain_words(member, browser):
    planner = ApplicationFactory(name="Planner <b>", homepage_url="https://planner.example.org/")
    grant(member.user, planner, ["openid", "member-read"])
    grant(member_with_login().user, ApplicationFactory(name="Someone else's app"), ["member-read"])

    html = browser.get("/accounts/apps/").content.decode()

    assert "Planner &lt;b&gt;" in html
    assert "https://planner.example.org/" in html
    assert "Sign you in with your Latch account" in html
    assert "See your membership record and the member directory" in html
    assert "Someone else" not in html
    assert f'action="/accounts/apps/{planner.client_id}/disconnect"' in html


def test_disconnecting_revokes_every_token_of_the_app_at_once(member, browser):
    application = ApplicationFactory()
    tokens = flow.obtain_tokens(member.user, application, "openid member-read offline_access")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    assert Client().get("/api/v1/members/me", **bearer).status_code == 200

    response = browser.post(f"/accounts/apps/{application.client_id}/disconnect")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/apps/"
    assert not Consent.objects.filter(user=member.user, application=application).exists()
    assert Client().get("/api/v1/members/me", **bearer).status_code == 401
    assert Client().get("/oauth/userinfo", **bearer).status_code == 401
    assert flow.refresh(Client(), application, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_member_cannot_disconnect_an_app_for_someone_else(member, browser):
    other = member_with_login()
    application = ApplicationFactory()
    grant(other.user, application, ["member-read"])

    response = browser.post(f"/accounts/apps/{application.client_id}/disconnect")

    assert response.status_code == 404
    assert Consent.objects.filter(user=other.user).exists()


def test_disconnect_takes_a_post_and_a_signed_in_member(member, browser):
    application = ApplicationFactory()
    grant(member.user, application, ["member-read"])

    assert browser.get(f"/accounts/apps/{application.client_id}/disconnect").status_code == 405
    assert Client().post(f"/accounts/apps/{application.client_id}/disconnect").status_code == 302
    assert Consent.objects.filter(user=member.user).exists()
