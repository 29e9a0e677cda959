"""How the member signed in, told to apps: `amr` and `acr` in the id_token, and `acr_values` asking
for a two-factor sign-in. The members here sign in through the sign-in page, as in a browser."""

from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.test import Client

from apps.oauth.models import Grant, RefreshToken
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.mfa import (
    SoftwareAuthenticator,
    activate_totp,
    add_key,
    sign_in,
    sign_in_with_code,
    signed_in_with_a_passkey,
    totp_code,
)
from tests.config.test_headers import SITE_POLICY
from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, pkce_pair
from tests.oauth.test_id_token import verify

pytestmark = pytest.mark.django_db

PASSWORD_LEVEL = "urn:latch:acr:password"
MFA_LEVEL = "urn:latch:acr:mfa"


@pytest.fixture
def member():
    return UserFactory(email="ada@example.org")


@pytest.fixture
def totp_browser(member) -> Client:
    """The member signed in with their password and authenticator app."""
    browser = Client()
    assert sign_in_with_code(browser, member, totp_code(activate_totp(member))).status_code == 302
    return browser


def authorize_path(application, scope: str = "openid", **extra) -> str:
    _, challenge = pkce_pair()
    return "/oauth/authorize?" + urlencode(flow.authorize_params(application, scope, challenge, **extra))


def tokens(browser: Client, application, scope: str = "openid", **extra) -> dict:
    code, verifier = flow.obtain_code(browser, application, scope, **extra)
    response = flow.redeem(Client(), application, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def id_token_claims(body: dict, application) -> dict:
    return verify(body["id_token"], application, nonce=None)


def error_redirect(response) -> dict[str, str]:
    return flow.redirect_params(response)


# --- amr and acr in the id_token ----------------------------------------------------------------


def test_a_password_sign_in_is_the_password_level(password_browser, application):
    claims = id_token_claims(tokens(password_browser, application), application)

    assert (claims["acr"], claims["amr"]) == (PASSWORD_LEVEL, ["pwd"])


def test_password_and_authenticator_app_are_the_mfa_level(totp_browser, application):
    claims = id_token_claims(tokens(totp_browser, application), application)

    assert (claims["acr"], claims["amr"]) == (MFA_LEVEL, ["mfa", "otp", "pwd"])


def test_a_passkey_alone_is_the_mfa_level(member, application):
    browser = signed_in_with_a_passkey(member)

    claims = id_token_claims(tokens(browser, application), application)

    assert (claims["acr"], claims["amr"]) == (MFA_LEVEL, ["hwk", "mfa", "user"])


def test_the_code_records_how_the_member_signed_in(totp_browser, application):
    flow.obtain_code(totp_browser, application, "openid")

    grant = Grant.objects.get()
    assert (grant.acr, grant.amr) == (MFA_LEVEL, ["mfa", "otp", "pwd"])


def test_a_session_that_recorded_no_sign_in_method_is_the_password_level_without_amr(browser, application):
    claims = id_token_claims(tokens(browser, application), application)  # force_login's browser

    assert claims["acr"] == PASSWORD_LEVEL
    assert "amr" not in claims


def test_userinfo_does_not_repeat_acr_or_amr(totp_browser, application):
    body = tokens(totp_browser, application, "openid profile")

    userinfo = Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()

    assert "acr" not in userinfo
    assert "amr" not in userinfo


def test_a_client_cannot_claim_a_stronger_sign_in_at_the_token_endpoint(password_browser, application):
    code, verifier = flow.obtain_code(password_browser, application, "openid")

    response = flow.redeem(
        Client(), application, code, verifier, latch_sign_in=MFA_LEVEL, acr=MFA_LEVEL, amr="mfa"
    )

    claims = id_token_claims(response.json(), application)
    assert (claims["acr"], claims["amr"]) == (PASSWORD_LEVEL, ["pwd"])


def test_refreshed_id_tokens_keep_the_original_sign_in(totp_browser, member, application):
    first = tokens(totp_browser, application, "openid offline_access")
    totp_browser.post("/accounts/logout/")
    later = Client()
    sign_in(later, member, PASSWORD)  # a later password-only session changes nothing for the app's tokens

    second = flow.refresh(Client(), application, first["refresh_token"]).json()
    third = flow.refresh(Client(), application, second["refresh_token"]).json()

    for body in (first, second, third):
        claims = id_token_claims(body, application)
        assert (claims["acr"], claims["amr"]) == (MFA_LEVEL, ["mfa", "otp", "pwd"])
    assert set(RefreshToken.objects.values_list("acr", flat=True)) == {MFA_LEVEL}


def test_a_refresh_token_from_before_amr_was_recorded_refreshes_at_the_password_level(
    totp_browser, application
):
    first = tokens(totp_browser, application, "openid offline_access")
    RefreshToken.objects.update(amr=[], acr="")

    claims = id_token_claims(flow.refresh(Client(), application, first["refresh_token"]).json(), application)

    assert claims["acr"] == PASSWORD_LEVEL
    assert "amr" not in claims


# --- acr_values: an app asks for two factors -----------------------------------------------------


def test_a_member_signed_in_with_a_password_confirms_their_authenticator_app_first(
    member, password_browser, application
):
    secret = activate_totp(member)  # set up after this session signed in
    path = authorize_path(application, acr_values=MFA_LEVEL)

    step_up = password_browser.get(path)
    confirmed = password_browser.post(
        "/accounts/2fa/reauthenticate/", {"code": totp_code(secret), "next": path}
    )
    consent = password_browser.get(confirmed["Location"])

    assert step_up["Location"] == "/accounts/2fa/reauthenticate/?" + urlencode({"next": path})
    assert confirmed["Location"] == path
    assert consent.status_code == 200
    assert consent.templates[0].name == "oauth/authorize.html"
    data = {k: v for k, v in consent.context["form"].initial.items() if v is not None}
    code = flow.redirect_params(password_browser.post("/oauth/authorize", {**data, "allow": "true"}))["code"]
    assert Grant.objects.get().acr == MFA_LEVEL
    assert code


def test_the_step_up_ends_in_an_id_token_at_the_mfa_level(member, password_browser, application):
    secret = activate_totp(member)
    verifier, challenge = pkce_pair()
    path = "/oauth/authorize?" + urlencode(
        flow.authorize_params(application, "openid", challenge, acr_values=MFA_LEVEL)
    )
    password_browser.get(path)
    password_browser.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret), "next": path})
    consent = password_browser.get(path)
    data = {k: v for k, v in consent.context["form"].initial.items() if v is not None}
    code = flow.redirect_params(password_browser.post("/oauth/authorize", {**data, "allow": "true"}))["code"]

    claims = id_token_claims(flow.redeem(Client(), application, code, verifier).json(), application)

    assert (claims["acr"], claims["amr"]) == (MFA_LEVEL, ["mfa", "otp", "pwd"])


def test_a_member_with_only_a_security_key_confirms_it(member, password_browser, application):
    setup_key = SoftwareAuthenticator(user_verification=False)
    add_key(password_browser, setup_key, passkey=False)
    path = authorize_path(application, acr_values=MFA_LEVEL)

    step_up = password_browser.get(path)
    confirm_page = password_browser.get(step_up["Location"])
    confirmed = password_browser.post(
        step_up["Location"],
        {"credential": setup_key.get(confirm_page.context["js_data"]["request_options"]), "next": path},
    )

    assert urlparse(step_up["Location"]).path == "/accounts/2fa/webauthn/reauthenticate/"
    assert confirmed["Location"] == path
    assert password_browser.get(path).status_code == 200


def test_a_two_factor_session_goes_straight_on(totp_browser, application):
    response = totp_browser.get(authorize_path(application, acr_values=MFA_LEVEL))

    assert response.status_code == 200
    assert response.templates[0].name == "oauth/authorize.html"


@pytest.mark.parametrize(
    "acr_values",
    ["urn:example:gold", f"{PASSWORD_LEVEL} {MFA_LEVEL}", f"{MFA_LEVEL} {PASSWORD_LEVEL}", PASSWORD_LEVEL],
)
def test_unknown_values_and_requests_that_accept_the_password_level_ask_nothing_more(
    member, password_browser, application, acr_values
):
    activate_totp(member)

    response = password_browser.get(authorize_path(application, acr_values=acr_values))

    assert response.status_code == 200
    assert response.templates[0].name == "oauth/authorize.html"


def test_a_member_without_a_second_factor_is_told_and_chooses(password_browser, application):
    response = password_browser.get(authorize_path(application, acr_values=MFA_LEVEL))

    assert response.status_code == 200
    assert response.templates[0].name == "oauth/two_factor_requested.html"
    assert response["Content-Security-Policy"] == SITE_POLICY
    html = response.content.decode()
    assert 'href="/accounts/2fa/"' in html
    cancel = urlparse(response.context["cancel_url"])
    assert f"{cancel.scheme}://{cancel.netloc}{cancel.path}" == REDIRECT_URI
    assert {k: v[0] for k, v in parse_qs(cancel.query).items()} == {
        "error": "access_denied",
        "state": "state-123",
        "iss": "https://testserver",
    }
    continue_url = response.context["continue_url"]
    assert "acr_values" not in continue_url
    assert parse_qs(urlparse(continue_url).query)["client_id"] == [application.client_id]


def test_going_on_without_a_second_factor_tells_the_app_the_password_level(password_browser, application):
    verifier, challenge = pkce_pair()
    path = "/oauth/authorize?" + urlencode(
        flow.authorize_params(application, "openid", challenge, acr_values=MFA_LEVEL)
    )
    continue_url = password_browser.get(path).context["continue_url"]
    consent = password_browser.get(continue_url)
    data = {k: v for k, v in consent.context["form"].initial.items() if v is not None}
    code = flow.redirect_params(password_browser.post("/oauth/authorize", {**data, "allow": "true"}))["code"]

    claims = id_token_claims(flow.redeem(Client(), application, code, verifier).json(), application)

    assert claims["acr"] == PASSWORD_LEVEL


def test_prompt_none_with_an_authenticator_but_no_second_factor_answers_login_required(
    member, password_browser, application
):
    activate_totp(member)
    tokens(password_browser, application)  # consent given, so only the second factor is missing

    response = password_browser.get(authorize_path(application, prompt="none", acr_values=MFA_LEVEL))

    params = error_redirect(response)
    assert (params["error"], params["state"]) == ("login_required", "state-123")


def test_prompt_none_without_any_second_factor_answers_interaction_required(password_browser, application):
    tokens(password_browser, application)

    response = password_browser.get(authorize_path(application, prompt="none", acr_values=MFA_LEVEL))

    params = error_redirect(response)
    assert (params["error"], params["state"]) == ("interaction_required", "state-123")


def test_prompt_none_with_two_factors_issues_the_code(totp_browser, application):
    tokens(totp_browser, application)

    response = totp_browser.get(authorize_path(application, prompt="none", acr_values=MFA_LEVEL))

    assert "code" in error_redirect(response)


def test_signing_in_for_an_app_that_asks_for_two_factors_asks_the_authenticator_app(member, application):
    secret = activate_totp(member)
    path = authorize_path(application, acr_values=MFA_LEVEL)
    browser = Client()

    to_sign_in = browser.get(path)
    signed_in = sign_in_with_code(browser, member, totp_code(secret), next=path)

    assert urlparse(to_sign_in["Location"]).path == "/accounts/login/"
    assert signed_in["Location"] == path
    assert browser.get(path).templates[0].name == "oauth/authorize.html"


# --- Discovery ----------------------------------------------------------------------------------


def test_discovery_lists_the_acr_values_and_the_amr_and_acr_claims():
    metadata = Client().get("/.well-known/openid-configuration").json()

    assert metadata["acr_values_supported"] == [PASSWORD_LEVEL, MFA_LEVEL]
    assert {"acr", "amr"} <= set(metadata["claims_supported"])
