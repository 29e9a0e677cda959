"""Bad requests get the RFC's error, never a 500, and change nothing."""

import base64
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from apps.oauth.models import AccessToken, Grant
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory, pkce_pair, public_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    browser = Client()
    browser.force_login(UserFactory())
    return browser


def assert_oauth_error(response, status: int, error: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == error
    assert "no-store" in response["Cache-Control"]


def assert_nothing_issued() -> None:
    assert not AccessToken.objects.exists()
    assert not Grant.objects.filter(redeemed_at__isnull=False).exists()


# --- Token endpoint ----------------------------------------------------------------------------


def test_wrong_code_verifier_is_invalid_grant_and_leaves_the_code_unspent(browser, application):
    code, verifier = flow.get_code(browser, application, "member-read")

    assert_oauth_error(flow.redeem(Client(), application, code, "x" * 50), 400, "invalid_grant")

    assert_nothing_issued()
    assert flow.redeem(Client(), application, code, verifier).status_code == 200


def test_missing_code_verifier_is_refused(browser, application):
    code, _ = flow.get_code(browser, application, "member-read")

    assert_oauth_error(flow.redeem(Client(), application, code, None), 400, "invalid_request")
    assert_nothing_issued()


def test_expired_code_is_invalid_grant(browser, application):
    code, verifier = flow.get_code(browser, application, "member-read")
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))

    assert_oauth_error(flow.redeem(Client(), application, code, verifier), 400, "invalid_grant")
    assert_nothing_issued()


def test_unknown_code_is_invalid_grant(application):
    assert_oauth_error(flow.redeem(Client(), application, "no-such-code", "v" * 43), 400, "invalid_grant")


def test_code_issued_to_another_client_is_invalid_grant(browser, application):
    code, verifier = flow.get_code(browser, application, "member-read")
    other = ApplicationFactory()

    assert_oauth_error(flow.redeem(Client(), other, code, verifier), 400, "invalid_grant")
    assert_nothing_issued()


def test_wrong_redirect_uri_at_token_is_invalid_grant(browser, application):
    code, verifier = flow.get_code(browser, application, "member-read")

    response = flow.redeem(
        Client(), application, code, verifier, redirect_uri="https://app.example.org/other"
    )

    assert_oauth_error(response, 400, "invalid_grant")
    assert_nothing_issued()


def test_unknown_client_is_invalid_client():
    response = Client().post(
        "/oauth/token", {"grant_type": "client_credentials"}, **flow.basic_auth("nobody", "secret")
    )

    assert_oauth_error(response, 401, "invalid_client")


def test_wrong_secret_at_code_redemption_is_invalid_client(browser, application):
    code, verifier = flow.get_code(browser, application, "member-read")
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }

    response = Client().post("/oauth/token", data, **flow.basic_auth(application.client_id, "wrong"))

    assert_oauth_error(response, 401, "invalid_client")
    assert_nothing_issued()


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Bearer something",
        "Basic " + "A" * 5000,
    ],
)
def test_malformed_basic_header_is_invalid_client(header):
    response = Client().post("/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=header)

    assert_oauth_error(response, 401, "invalid_client")


def test_duplicated_parameter_is_invalid_request(browser, application):
    code, verifier = flow.get_code(browser, application, "member-read")
    body = urlencode(
        [("grant_type", "authorization_code"), ("code", code), ("code", code), ("code_verifier", verifier)]
    )

    response = Client().post(
        "/oauth/token", body, content_type="application/x-www-form-urlencoded", **flow.app_auth(application)
    )

    assert_oauth_error(response, 400, "invalid_request")
    assert "code" in response.json()["error_description"]
    assert_nothing_issued()


def test_missing_grant_type_is_refused(application):
    response = Client().post("/oauth/token", {}, **flow.app_auth(application))

    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_request", "unsupported_grant_type"}


@pytest.mark.parametrize("grant_type", ["password", "implicit", "x"])
def test_unsupported_grant_type(application, grant_type):
    response = Client().post(
        "/oauth/token",
        {"grant_type": grant_type, "username": "a", "password": "b"},
        **flow.app_auth(application),
    )

    assert_oauth_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"grant_type": "client_credentials"}', "application/json"),
        (b"\x00\xff\xfe garbage \x80", "application/x-www-form-urlencoded"),
        ("grant_type=%ZZ&&&==", "application/x-www-form-urlencoded"),
        ("", "text/plain"),
    ],
)
def test_garbage_bodies_get_an_oauth_error_not_a_500(application, body, content_type):
    response = Client().post("/oauth/token", body, content_type=content_type, **flow.app_auth(application))

    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_token_endpoint_refuses_get():
    assert Client().get("/oauth/token").status_code == 405


# --- Authorization endpoint ----------------------------------------------------------------------


def authorize(browser, **params):
    return browser.get("/oauth/authorize?" + urlencode(params))


def assert_error_page(response, error: str, description: str = "") -> None:
    assert response.status_code == 400
    assert "Location" not in response
    assert response.templates[0].name == "oauth/error.html"
    html = response.content.decode()
    assert f"<code>{error}</code>" in html
    assert description in html


def test_unknown_client_gets_an_error_page_and_no_redirect(browser):
    _, challenge = pkce_pair()
    response = authorize(
        browser,
        response_type="code",
        client_id="nobody",
        redirect_uri=REDIRECT_URI,
        code_challenge=challenge,
        code_challenge_method="S256",
    )

    assert_error_page(response, "invalid_request", "Invalid client_id parameter value.")


def test_unregistered_redirect_uri_gets_an_error_page_and_no_redirect(browser, application):
    _, challenge = pkce_pair()
    for uri in [
        "https://evil.example.com/callback",
        REDIRECT_URI + "/",
        REDIRECT_URI + "?x=1",
        "https://app.example.org",
    ]:
        response = authorize(
            browser,
            response_type="code",
            client_id=application.client_id,
            redirect_uri=uri,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        assert_error_page(response, "invalid_request", "Mismatching redirect URI.")


def test_missing_client_id_gets_an_error_page(browser):
    assert_error_page(
        authorize(browser, response_type="code", redirect_uri=REDIRECT_URI),
        "invalid_request",
        "Missing client_id",
    )


def test_duplicated_client_id_gets_an_error_page(browser, application):
    query = urlencode([("client_id", application.client_id), ("client_id", "x"), ("response_type", "code")])

    assert_error_page(browser.get("/oauth/authorize?" + query), "invalid_request")


def error_redirect(response) -> dict[str, str]:
    params = flow.redirect_params(response)
    assert "code" not in params
    return params


def test_public_client_without_pkce_is_refused_by_redirect(browser):
    application = public_application()

    params = error_redirect(flow.consent_page(browser, application, "member-read", None))

    assert params["error"] == "invalid_request"
    assert params["state"] == "state-123"


def test_plain_pkce_method_is_refused(browser, application):
    params = error_redirect(
        flow.consent_page(
            browser, application, "member-read", None, code_challenge="a" * 43, code_challenge_method="plain"
        )
    )

    assert params["error"] == "invalid_request"


def test_implicit_response_type_is_refused(browser, application):
    _, challenge = pkce_pair()
    params = error_redirect(
        flow.consent_page(browser, application, "member-read", challenge, response_type="token")
    )

    assert params["error"] == "unsupported_response_type"


def test_scope_outside_the_allowed_set_is_invalid_scope(browser):
    application = ApplicationFactory(allowed_scopes=["member-read"])
    _, challenge = pkce_pair()

    params = error_redirect(flow.consent_page(browser, application, "member-read checkout-write", challenge))

    assert params["error"] == "invalid_scope"


def test_unknown_scope_is_invalid_scope(browser, application):
    _, challenge = pkce_pair()

    params = error_redirect(flow.consent_page(browser, application, "member-read admin", challenge))

    assert params["error"] == "invalid_scope"


def test_no_scope_means_the_allowed_defaults(browser):
    application = ApplicationFactory(allowed_scopes=["openid", "member-read", "checkout-read"])
    _, challenge = pkce_pair()

    params = flow.authorize_params(application, "", challenge)
    del params["scope"]

    page = authorize(browser, **params)

    assert page.status_code == 200
    assert [scope.name for scope in page.context["scopes"]] == ["member-read"]


def test_no_scope_and_no_default_is_invalid_scope(browser):
    application = ApplicationFactory(allowed_scopes=["openid", "checkout-read"])
    _, challenge = pkce_pair()

    params = flow.authorize_params(application, "", challenge)
    del params["scope"]

    assert error_redirect(authorize(browser, **params))["error"] == "invalid_scope"


def test_tampered_consent_form_for_an_unknown_client_gets_an_error_page(browser, application):
    _, challenge = pkce_pair()
    page = flow.consent_page(browser, application, "member-read", challenge)
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    data.update(client_id="nobody", allow="true")

    response = browser.post("/oauth/authorize", data)

    # The form carries no client_id of its own: one posted with it was changed (ConsentForm).
    assert_error_page(response, "invalid_request")
    assert not Grant.objects.exists()


def test_tampered_consent_form_with_another_redirect_uri_gets_an_error_page(browser, application):
    _, challenge = pkce_pair()
    page = flow.consent_page(browser, application, "member-read", challenge)
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    data.update(redirect_uri="https://evil.example.com/", allow="true")

    response = browser.post("/oauth/authorize", data)

    assert response.status_code == 400
    assert "Location" not in response
    assert not Grant.objects.exists()


@pytest.mark.parametrize("allow", [True, False])
@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example.com/callback",
        REDIRECT_URI + "/",
        REDIRECT_URI + "?next=https://evil.example.com",
        "https://app.example.org.evil.test/callback",
    ],
)
def test_a_tampered_redirect_uri_on_allow_or_deny_gets_an_error_page_and_no_redirect(
    browser, application, redirect_uri, allow
):
    _, challenge = pkce_pair()
    page = flow.consent_page(browser, application, "member-read", challenge)
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    data["redirect_uri"] = redirect_uri
    if allow:
        data["allow"] = "true"

    response = browser.post("/oauth/authorize", data)

    assert response.status_code == 400
    assert "Location" not in response
    assert not Grant.objects.exists()


def test_deny_with_the_form_as_shown_still_goes_back_to_the_app(browser, application):
    _, challenge = pkce_pair()

    response = flow.submit_consent(browser, application, "member-read", challenge, allow=False)

    assert flow.redirect_params(response)["error"] == "access_denied"


def test_incomplete_consent_form_gets_an_error_page(browser):
    response = browser.post("/oauth/authorize", {"allow": "true"})

    assert_error_page(response, "invalid_request")
