from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in():
    member = UserFactory()
    browser = Client()
    browser.force_login(member)
    application = ApplicationFactory(post_logout_redirect_uris=["https://app.example.org/bye"])
    code, verifier = flow.get_code(browser, application, "openid")
    id_token = flow.redeem(Client(), application, code, verifier).json()["id_token"]
    return browser, application, id_token


def test_rp_initiated_logout_asks_then_signs_out_and_returns_to_the_registered_uri(signed_in):
    browser, _, id_token = signed_in
    query = urlencode(
        {"id_token_hint": id_token, "post_logout_redirect_uri": "https://app.example.org/bye", "state": "s1"}
    )

    page = browser.get("/oauth/logout?" + query)
    assert page.status_code == 200
    assert "Sign out" in page.content.decode()
    data = {k: v for k, v in page.context["form"].initial.items() if v}
    response = browser.post("/oauth/logout", {**data, "allow": "true"})

    assert response.status_code == 302
    assert response["Location"] == "https://app.example.org/bye?state=s1"
    assert "_auth_user_id" not in browser.session


def test_rp_initiated_logout_refuses_an_unregistered_redirect(signed_in):
    browser, _, id_token = signed_in
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example.com/"})

    response = browser.get("/oauth/logout?" + query)

    assert response.status_code == 400
    assert "Location" not in response
    assert "_auth_user_id" in browser.session


def test_rp_initiated_logout_refuses_a_redirect_named_by_client_id_alone(signed_in):
    browser, application, _ = signed_in
    query = urlencode(
        {"client_id": application.client_id, "post_logout_redirect_uri": "https://app.example.org/bye"}
    )

    response = browser.get("/oauth/logout?" + query)

    assert response.status_code == 400
    assert "Location" not in response
    assert "_auth_user_id" in browser.session


def test_rp_initiated_logout_refuses_an_id_token_of_another_client(signed_in):
    browser, _, id_token = signed_in
    other = ApplicationFactory(post_logout_redirect_uris=["https://other.example.org/bye"])
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": other.client_id,
            "post_logout_redirect_uri": "https://other.example.org/bye",
        }
    )

    response = browser.get("/oauth/logout?" + query)

    assert response.status_code == 400
    assert "_auth_user_id" in browser.session


def test_rp_initiated_logout_refuses_a_forged_id_token_hint(signed_in):
    browser, _, id_token = signed_in
    header, payload, signature = id_token.split(".")
    forged = ".".join([header, payload, signature[::-1]])
    query = urlencode({"id_token_hint": forged, "post_logout_redirect_uri": "https://app.example.org/bye"})

    response = browser.get("/oauth/logout?" + query)

    assert response.status_code == 400
    assert "_auth_user_id" in browser.session


def test_rp_initiated_logout_without_a_redirect_asks_and_ends_the_session(signed_in):
    browser, _, _ = signed_in

    page = browser.get("/oauth/logout")
    assert page.status_code == 200
    response = browser.post("/oauth/logout", {"allow": "true"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in browser.session
    assert browser.get("/accounts/").status_code == 302


def test_declining_rp_initiated_logout_keeps_the_member_signed_in(signed_in):
    browser, _, id_token = signed_in
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": "https://app.example.org/bye"})
    page = browser.get("/oauth/logout?" + query)
    data = {k: v for k, v in page.context["form"].initial.items() if v}

    response = browser.post("/oauth/logout", data)

    # "Stay signed in": the account page, still signed in, saying so; not the invalid-request page.
    assert response.status_code == 302
    assert response["Location"] == "/accounts/"
    assert "_auth_user_id" in browser.session
    account = browser.get(response["Location"]).content.decode()
    assert "You are still signed in to Latch." in account
    assert "cannot be completed" not in account
