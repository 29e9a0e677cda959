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
