"""Numbers in authorization requests are read strictly: a bad one is invalid_request, never a 500."""

import pytest
from django.test import Client

from apps.oauth.models import Grant
from tests.core.test_numbers import NOT_NUMBERS
from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, pkce_pair

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("max_age", [text for text in NOT_NUMBERS if text])
def test_a_max_age_that_is_not_plain_digits_is_invalid_request_with_state_and_issuer(
    browser, application, max_age
):
    response = flow.consent_page(browser, application, "openid", pkce_pair()[1], max_age=max_age)

    params = flow.redirect_params(response)
    assert params == {
        "error": "invalid_request",
        "error_description": "max_age must be a number of seconds.",
        "state": "state-123",
        "iss": "https://testserver",
    }
    assert "_auth_user_id" in browser.session
    assert not Grant.objects.exists()


def test_a_bad_max_age_for_a_signed_out_browser_is_invalid_request_too(application):
    response = flow.consent_page(Client(), application, "openid", pkce_pair()[1], max_age="²")

    assert flow.redirect_params(response)["error"] == "invalid_request"


def test_a_bad_max_age_for_an_unregistered_redirect_uri_gets_the_error_page(browser, application):
    response = flow.consent_page(
        browser, application, "openid", pkce_pair()[1], max_age="²", redirect_uri=REDIRECT_URI + "/x"
    )

    assert response.status_code == 400
    assert "Location" not in response
