"""A member signing out of one browser: the apps that session signed into get a logout token with
its sid and the member's sub, verified as the app would verify it; no other app gets one."""

from urllib.parse import parse_qs, urlencode

import pytest
from django.test import Client

from apps.accounts.sessions import SESSION_ID
from apps.backchannel.delivery import deliver_due
from apps.backchannel.models import LogoutDelivery, SessionSignIn
from tests.backchannel.conftest import sign_into, signed_in_browser
from tests.backchannel.receiver import id_token_claims, verify_logout_token
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def test_signing_out_sends_each_app_of_the_session_a_verifiable_logout_token(member, rp, receiver):
    browser = signed_in_browser(member)
    planner, shop = rp("/planner"), rp("/shop")
    planner_sid = id_token_claims(sign_into(browser, planner))["sid"]
    sign_into(browser, shop)

    assert browser.post("/accounts/logout/").status_code == 302
    result = deliver_due()

    assert result.delivered == 2
    for application, path in ((planner, "/planner"), (shop, "/shop")):
        (token,) = receiver.tokens(path)
        claims = verify_logout_token(token, application)
        assert claims["sid"] == planner_sid  # the id_token's sid: one session, both apps
        assert claims["sub"] == str(member.public_id)
    assert {request["content_type"] for request in receiver.requests} == {"application/x-www-form-urlencoded"}
    assert set(LogoutDelivery.objects.values_list("status", flat=True)) == {LogoutDelivery.Status.DELIVERED}
    assert not SessionSignIn.objects.exists()


@pytest.mark.parametrize("returns_to_the_app", [False, True])
def test_rp_initiated_logout_sends_the_logout_token(member, rp, receiver, returns_to_the_app):
    browser = signed_in_browser(member)
    planner = rp()
    tokens = sign_into(browser, planner)
    query = {"id_token_hint": tokens["id_token"]}
    if returns_to_the_app:
        query["post_logout_redirect_uri"] = "https://app.example.org/"
    page = browser.get("/oauth/logout?" + urlencode(query))
    data = {k: v for k, v in page.context["form"].initial.items() if v}

    response = browser.post("/oauth/logout", {**data, "allow": "true"})
    deliver_due()

    assert response.status_code == 302
    assert "_auth_user_id" not in browser.session

    (token,) = receiver.tokens()
    assert verify_logout_token(token, planner)["sid"] == id_token_claims(tokens)["sid"]


def test_only_the_apps_this_session_signed_into_are_told(member, rp, receiver):
    laptop, phone = signed_in_browser(member), signed_in_browser(member)
    laptop_app, phone_app = rp("/laptop"), rp("/phone")
    without_uri = ApplicationFactory()
    sign_into(laptop, laptop_app)
    sign_into(laptop, without_uri)
    sign_into(phone, phone_app)

    laptop.post("/accounts/logout/")
    deliver_due()

    assert len(receiver.tokens("/laptop")) == 1
    assert receiver.tokens("/phone") == []
    assert LogoutDelivery.objects.get().application == laptop_app  # none for the app without a URI
    # The phone's session still has its record, for when it signs out.
    assert SessionSignIn.objects.get().application == phone_app


def test_signing_out_a_session_that_signed_into_nothing_queues_nothing(member, rp):
    rp()
    browser = signed_in_browser(member)

    browser.post("/accounts/logout/")

    assert not LogoutDelivery.objects.exists()


def test_ending_another_browser_tells_the_apps_of_that_browser_only(member, rp, receiver):
    laptop, phone = signed_in_browser(member), signed_in_browser(member)
    laptop_app, phone_app = rp("/laptop"), rp("/phone")
    sign_into(laptop, laptop_app)
    phone_sid = id_token_claims(sign_into(phone, phone_app))["sid"]
    phone_row = next(
        browser for browser in laptop.get("/accounts/").context["browsers"] if not browser.is_current
    )

    laptop.post("/accounts/sessions/end", {"session": phone_row.session_key})
    deliver_due()

    assert receiver.tokens("/laptop") == []
    (token,) = receiver.tokens("/phone")
    assert verify_logout_token(token, phone_app)["sid"] == phone_sid


def test_a_digest_from_elsewhere_ends_nothing_and_queues_nothing(member, rp):
    browser = signed_in_browser(member)
    sign_into(browser, rp())
    stranger = signed_in_browser(type(member).objects.create_user(email="eve@example.org"))

    stranger.post("/accounts/sessions/end", {"session": browser.session.session_key})

    assert not LogoutDelivery.objects.exists()


def test_signing_in_again_in_the_same_browser_ends_the_old_session_for_its_apps(member, rp, receiver):
    from tests.accounts.mfa import sign_in

    browser = Client()
    assert sign_in(browser, member).status_code == 302
    planner = rp()
    old_sid = id_token_claims(sign_into(browser, planner))["sid"]

    assert sign_in(browser, member).status_code == 302
    deliver_due()

    assert browser.session[SESSION_ID] != old_sid
    (token,) = receiver.tokens()
    assert verify_logout_token(token, planner)["sid"] == old_sid


def test_the_logout_token_is_posted_as_a_form_field_only(member, rp, receiver):
    browser = signed_in_browser(member)
    sign_into(browser, rp())
    browser.post("/accounts/logout/")

    deliver_due()

    assert set(parse_qs(receiver.requests[0]["body"])) == {"logout_token"}
