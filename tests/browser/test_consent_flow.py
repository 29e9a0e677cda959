"""A member's way through Latch in Chromium: sign in, consent, back to the app, disconnect the app.

The browser really follows Latch's redirects to the app's redirect URI, https://app.example.org/callback,
which a stand-in server answers (tests/browser/app.py): the tests read the code, state and iss the
app would receive, after Chromium applied Latch's Content-Security-Policy (form-action) to the way there.
"""

import re
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from apps.oauth import consent
from apps.oauth.models import Consent
from tests.accounts.factories import PASSWORD
from tests.browser.app import LOGO_URL
from tests.members.factories import member_with_login
from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory, pkce_pair

pytestmark = pytest.mark.browser

CALLBACK = re.compile("^" + re.escape(REDIRECT_URI) + r"\?")
APP_NAME = "Activity planner"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def member():
    return member_with_login(first_name="Ada", last_name="Lovelace", email="ada@example.org").user


@pytest.fixture
def application():
    return ApplicationFactory(
        name=APP_NAME,
        description="Plan the association's activities and enrol in them.",
        homepage_url="https://planner.example.org/",
    )


def authorize(page: Page, application, scope: str) -> str:
    """Open an authorization request as the app would send it (PKCE S256); returns the verifier."""
    verifier, challenge = pkce_pair()
    page.goto("/oauth/authorize?" + urlencode(flow.authorize_params(application, scope, challenge)))
    return verifier


def sign_in(page: Page, member) -> None:
    """On the sign-in page, as a member would: by the fields' labels and the button's name."""
    page.get_by_label("Email", exact=True).fill(member.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def expect_consent_page(page: Page) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{APP_NAME} wants to access your Latch account"
    )


def scope_list(page: Page, heading: str):
    return page.get_by_role("list", name=heading).get_by_role("listitem")


def callback_params(page: Page) -> dict[str, str]:
    """The query the app received at its redirect URI."""
    expect(page).to_have_url(CALLBACK)
    return {key: values[0] for key, values in parse_qs(urlparse(page.url).query).items()}


def allow(page: Page) -> dict[str, str]:
    page.get_by_role("button", name="Allow").click()
    return callback_params(page)


def test_a_member_signs_in_allows_the_app_and_it_gets_a_working_code(
    page, member, application, app_callbacks, live_server, screenshot
):
    verifier = authorize(page, application, "openid profile")

    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/oauth/authorize%3F"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Latch")
    screenshot("login")
    sign_in(page, member)

    expect_consent_page(page)
    expect(scope_list(page, f"This will allow {APP_NAME} to:")).to_have_text(
        ["Sign you in with your Latch account openid", "See your name profile"]
    )
    expect(page.get_by_text("Already allowed")).to_have_count(0)
    screenshot("consent")
    params = allow(page)

    assert params["state"] == "state-123"
    # The configured issuer (LATCH_ISSUER), never one derived from the request's host.
    assert params["iss"] == settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"]
    assert app_callbacks == [page.url]
    tokens = flow.redeem(Client(), application, params["code"], verifier)
    assert tokens.status_code == 200, tokens.content
    assert tokens.json()["scope"] == "openid profile"
    assert "id_token" in tokens.json()


def test_a_second_request_for_the_same_scopes_skips_the_consent_page(page, member, application):
    authorize(page, application, "openid profile")
    sign_in(page, member)
    allow(page)

    verifier, challenge = pkce_pair()
    url = "/oauth/authorize?" + urlencode(flow.authorize_params(application, "openid profile", challenge))
    response = page.goto(url)

    # One redirect, from Latch straight to the app: no page was shown in between.
    first = response.request.redirected_from
    assert first is not None
    assert first.redirected_from is None
    assert urlparse(first.url).path == "/oauth/authorize"
    params = callback_params(page)
    assert flow.redeem(Client(), application, params["code"], verifier).status_code == 200


def test_a_request_with_one_new_scope_asks_only_for_that_scope(page, member, application, screenshot):
    authorize(page, application, "openid profile")
    sign_in(page, member)
    allow(page)

    authorize(page, application, "openid profile email")

    expect_consent_page(page)
    expect(scope_list(page, f"This will allow {APP_NAME} to:")).to_have_text(["See your email address email"])
    expect(scope_list(page, "Already allowed")).to_have_text(
        ["Sign you in with your Latch account openid", "See your name profile"]
    )
    screenshot("consent-more")
    assert "code" in allow(page)
    assert Consent.objects.get(user=member, application=application).scopes == ["openid", "profile", "email"]


def test_a_member_disconnects_the_app_by_keyboard_and_is_asked_again_next_time(
    page, member, application, screenshot
):
    other = ApplicationFactory(name="Bar tab", homepage_url="https://bar.example.org/")
    consent.grant(member, other, ["openid", "member-read", "checkout-read"])
    authorize(page, application, "openid profile")
    sign_in(page, member)
    allow(page)

    page.goto("/accounts/apps/")
    expect(page.get_by_role("heading", level=2)).to_have_text([APP_NAME, "Bar tab"])
    screenshot("connected-apps")
    disconnect = page.get_by_role("button", name=f"Disconnect {APP_NAME}")
    disconnect.focus()
    expect(disconnect).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_text(f"{APP_NAME} is disconnected")).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_text(["Bar tab"])
    authorize(page, application, "openid profile")
    expect_consent_page(page)


def test_signing_in_without_an_app_leads_to_the_account_page(chromium, live_server, page, member, screenshot):
    # Signed in on a phone too, so the account page lists two browsers.
    phone = chromium.new_context(base_url=live_server.url, user_agent=IPHONE)
    on_the_phone = phone.new_page()
    on_the_phone.goto("/accounts/login/")
    sign_in(on_the_phone, member)
    expect(on_the_phone).to_have_url(re.compile(r"/accounts/$"))
    phone.close()

    page.goto("/accounts/login/")
    sign_in(page, member)

    expect(page).to_have_url(re.compile(r"/accounts/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_role("main")).to_contain_text(member.email)
    screenshot("account")


def logo_width(page: Page) -> int:
    """The natural width of the app's logo on the page: 0 when the browser did not load it."""
    page.wait_for_load_state("load")  # images loaded, or failed to
    return page.locator("img.app-logo").evaluate("img => img.naturalWidth")


def test_the_apps_logo_shows_on_the_consent_page(page, member):
    application = ApplicationFactory(name=APP_NAME, logo_url=LOGO_URL)
    authorize(page, application, "openid")
    sign_in(page, member)

    expect_consent_page(page)
    assert logo_width(page) == 56


def test_the_apps_logo_shows_on_the_connected_apps_page(page, member):
    consent.grant(member, ApplicationFactory(name=APP_NAME, logo_url=LOGO_URL), ["openid"])
    page.goto("/accounts/login/?next=/accounts/apps/")
    sign_in(page, member)

    expect(page.get_by_role("heading", level=2)).to_have_text([APP_NAME])
    assert logo_width(page) == 56
