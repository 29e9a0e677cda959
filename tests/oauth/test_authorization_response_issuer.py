"""RFC 9207: every authorization response redirected to the app names the issuer, errors included.

An app that talks to more than one authorization server tells them apart by `iss`; an error response
without it (access_denied after Deny, login_required, ...) is exactly what a mix-up attack forges.
"""

from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory, pkce_pair, public_application

pytestmark = pytest.mark.django_db

ISSUER = "https://testserver"


def assert_redirect_names_issuer(response, error: str | None) -> dict[str, list[str]]:
    """The response goes back to the app with exactly one `iss`, the discovery document's issuer."""
    assert response.status_code == 302, response.content
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    params = parse_qs(location.query)
    assert params["iss"] == [ISSUER]
    assert params.get("error") == ([error] if error else None)
    return params


def authorize(browser: Client, application, scope: str = "openid member-read", **extra):
    return flow.consent_page(browser, application, scope, pkce_pair()[1], **extra)


def test_the_issuer_in_responses_is_the_one_discovery_publishes(client):
    metadata = client.get("/.well-known/openid-configuration").json()

    assert metadata["issuer"] == ISSUER
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_a_code_names_the_issuer(browser, application):
    response = flow.submit_consent(browser, application, "openid", pkce_pair()[1], allow=True)

    assert "code" in assert_redirect_names_issuer(response, None)


def test_deny_names_the_issuer(browser, application):
    response = flow.submit_consent(browser, application, "openid", pkce_pair()[1], allow=False)

    params = assert_redirect_names_issuer(response, "access_denied")
    assert params["state"] == ["state-123"]


def test_consent_required_names_the_issuer(browser, application):
    assert_redirect_names_issuer(authorize(browser, application, prompt="none"), "consent_required")


def test_login_required_for_a_signed_out_browser_names_the_issuer(application):
    assert_redirect_names_issuer(authorize(Client(), application, prompt="none"), "login_required")


def test_login_required_for_an_old_sign_in_names_the_issuer(browser, application):
    response = authorize(browser, application, prompt="none", max_age="0")

    assert_redirect_names_issuer(response, "login_required")


def test_interaction_required_names_the_issuer(browser, application):
    response = authorize(browser, application, prompt="none", acr_values="urn:latch:acr:mfa")

    assert_redirect_names_issuer(response, "interaction_required")


def test_going_back_to_the_app_instead_of_setting_up_a_second_factor_names_the_issuer(browser, application):
    page = authorize(browser, application, acr_values="urn:latch:acr:mfa")

    assert page.status_code == 200
    cancel = urlparse(page.context["cancel_url"])
    assert parse_qs(cancel.query)["iss"] == [ISSUER]
    assert parse_qs(cancel.query)["error"] == ["access_denied"]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "soon"}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_invalid_requests_name_the_issuer(browser, application, extra, error):
    params = {"scope": "openid member-read", **extra}
    scope = params.pop("scope")

    assert_redirect_names_issuer(authorize(browser, application, scope, **params), error)


def test_a_public_client_without_pkce_is_told_so_with_the_issuer(browser):
    response = flow.consent_page(browser, public_application(), "member-read", None)

    assert_redirect_names_issuer(response, "invalid_request")


def test_a_first_party_app_names_the_issuer(browser):
    application = ApplicationFactory()
    application.skip_authorization = True
    application.save(update_fields=["skip_authorization"])

    assert "code" in assert_redirect_names_issuer(authorize(browser, application), None)


def test_a_redirect_uri_that_carries_its_own_iss_gets_only_latchs(browser):
    uri = "https://app.example.org/callback?iss=https%3A%2F%2Fevil.example.com"
    application = ApplicationFactory(redirect_uris=[uri])

    response = flow.submit_consent(
        browser, application, "openid", pkce_pair()[1], allow=False, redirect_uri=uri
    )

    assert response.status_code == 302
    assert parse_qs(urlparse(response["Location"]).query)["iss"] == [ISSUER]
