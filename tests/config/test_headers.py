"""Security headers: the Content-Security-Policy of each kind of page, the headers beside it, CSRF.

tests run with DEBUG off, so the cookies are the production ones.
"""

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.test import Client, override_settings

from config.csp import origin
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.mfa import staff_browser
from tests.api.tokens import bearer, issue_token
from tests.members.factories import member_with_login
from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory, pkce_pair

pytestmark = pytest.mark.django_db

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
CSP = "Content-Security-Policy"
SITE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
APP_FORM_POLICY = SITE_POLICY.replace("form-action 'self'", "form-action 'self' https://app.example.org")
CONSENT_POLICY = APP_FORM_POLICY.replace("img-src 'self' data:", "img-src 'self' data: https:")


@pytest.fixture
def member():
    return UserFactory(email="ada@example.org")


@pytest.fixture
def browser(member) -> Client:
    browser = Client()
    browser.force_login(member)
    return browser


@pytest.fixture
def application():
    return ApplicationFactory(logo_url="https://cdn.example.net/logo.png")


def authorize_path(application, **overrides) -> str:
    _, challenge = pkce_pair()
    params = flow.authorize_params(application, "openid", challenge, **overrides)
    return "/oauth/authorize?" + urlencode(params)


# --- The policy of each kind of page --------------------------------------------------------


def test_sign_in_page_gets_the_site_policy():
    response = Client().get("/accounts/login/")

    assert response.status_code == 200
    assert response[CSP] == SITE_POLICY
    assert "Content-Security-Policy-Report-Only" not in response


def test_sign_in_page_on_the_way_to_an_app_may_post_on_to_that_apps_redirect_uri(application):
    # After sign-in Latch redirects to /oauth/authorize, which may redirect straight to the app
    # (skip_authorization, approval_prompt=auto); Chrome checks that whole chain against form-action.
    response = Client().get("/accounts/login/", {"next": authorize_path(application)})

    assert response.status_code == 200
    assert response[CSP] == APP_FORM_POLICY


def test_sign_in_page_keeps_the_widened_form_action_after_a_wrong_password(application, member):
    response = Client().post(
        "/accounts/login/",
        {"login": member.email, "password": "wrong", "next": authorize_path(application)},
    )

    assert response.status_code == 200
    assert response[CSP] == APP_FORM_POLICY


@pytest.mark.parametrize(
    "next_url",
    [
        "/accounts/",  # not an authorization request
        "/oauth/authorize?client_id=unknown&redirect_uri=https%3A%2F%2Fapp.example.org%2Fcallback",
        "https://evil.example.com/oauth/authorize",  # not local (allauth drops it too)
    ],
)
def test_sign_in_page_allows_no_other_origin_than_a_registered_redirect_uri(next_url):
    response = Client().get("/accounts/login/", {"next": next_url})

    assert response[CSP] == SITE_POLICY


def test_sign_in_page_ignores_a_redirect_uri_not_registered_for_the_client(application):
    path = authorize_path(application, redirect_uri="https://evil.example.com/callback")

    response = Client().get("/accounts/login/", {"next": path})

    assert response[CSP] == SITE_POLICY


def test_consent_page_may_post_to_the_redirect_uri_and_show_an_https_logo(browser, application):
    response = browser.get(authorize_path(application))

    assert response.status_code == 200
    assert response.templates[0].name == "oauth/authorize.html"
    assert response[CSP] == CONSENT_POLICY


def test_authorize_error_page_gets_the_site_policy(browser, application):
    response = browser.get(authorize_path(application, redirect_uri="https://evil.example.com/callback"))

    assert response.status_code == 400
    assert response.templates[0].name == "oauth/error.html"
    assert response[CSP] == SITE_POLICY


def test_not_found_page_gets_the_site_policy():
    response = Client().get("/no-such-page")

    assert response.status_code == 404
    assert response[CSP] == SITE_POLICY


def test_admin_pages_get_the_site_policy():
    client = staff_browser(UserFactory(is_staff=True, is_superuser=True))

    index = client.get("/admin/")
    changelist = client.get("/admin/oauth/application/")

    assert (index.status_code, changelist.status_code) == (200, 200)
    assert index[CSP] == changelist[CSP] == SITE_POLICY


def test_logout_confirmation_may_post_on_to_the_registered_post_logout_uri(browser, application):
    code, verifier = flow.get_code(browser, application, "openid")
    id_token = flow.redeem(Client(), application, code, verifier).json()["id_token"]
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": "https://app.example.org/"})

    confirm = browser.get("/oauth/logout?" + query)
    refused = browser.get(
        "/oauth/logout?"
        + urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example.com/"})
    )

    assert confirm.status_code == 200
    assert confirm[CSP] == APP_FORM_POLICY
    assert refused.status_code == 400
    assert refused[CSP] == SITE_POLICY


def test_api_docs_run_under_the_site_policy_without_inline_code():
    page = Client().get("/api/docs")
    script = Client().get("/api/docs?script=")

    html = page.content.decode()
    assert page[CSP] == SITE_POLICY
    assert '<script src="/api/docs?script="></script>' in html
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert script.status_code == 200
    assert script["Content-Type"] == "application/javascript"
    assert '"validatorUrl": null' in script.content.decode()


@override_settings(SECURE_CSP={"default-src": ["'self'"], "form-action": "'self'", "style-src": {"'self'"}})
def test_page_exceptions_widen_only_directives_an_operator_policy_names(browser, application):
    response = browser.get(authorize_path(application))

    # No img-src is added: on its own `https:` would drop the 'self' that default-src allows.
    assert response[CSP] == "default-src 'self'; form-action 'self' https://app.example.org; style-src 'self'"


@override_settings(SECURE_CSP={})
def test_an_empty_secure_csp_turns_the_policy_off_on_every_page(browser, application):
    consent = browser.get(authorize_path(application))
    sign_in = Client().get("/accounts/login/", {"next": authorize_path(application)})

    assert consent.status_code == 200
    assert CSP not in consent
    assert CSP not in sign_in


# --- No policy where no document is rendered ------------------------------------------------


def test_token_endpoint_json_has_no_policy(browser, application):
    code, verifier = flow.get_code(browser, application, "openid")

    response = flow.redeem(Client(), application, code, verifier)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert CSP not in response
    assert "Content-Security-Policy-Report-Only" not in response
    assert response["X-Content-Type-Options"] == "nosniff"


def test_token_endpoint_errors_have_no_policy():
    response = Client().post("/oauth/token", {"grant_type": "client_credentials"})

    assert response.status_code == 401
    assert CSP not in response


def test_api_responses_have_no_policy():
    token = issue_token("member-read", user=member_with_login().user)

    ok = Client().get("/api/v1/members/me", **bearer(token))
    unauthorized = Client().get("/api/v1/members/me")

    assert (ok.status_code, unauthorized.status_code) == (200, 401)
    assert CSP not in ok
    assert CSP not in unauthorized
    assert ok["X-Content-Type-Options"] == "nosniff"


def test_discovery_and_keys_have_no_policy():
    discovery = Client().get("/.well-known/openid-configuration")
    jwks = Client().get("/oauth/jwks")

    assert (discovery.status_code, jwks.status_code) == (200, 200)
    assert CSP not in discovery
    assert CSP not in jwks


# --- The headers beside the policy ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts/login/", "/api/docs", "/accounts/password/reset/"])
def test_html_pages_refuse_framing_sniffing_referrers_and_openers(path):
    response = Client().get(path)

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response[CSP].endswith("; frame-ancestors 'none'")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_consent_page_sends_the_same_referrer_policy(browser, application):
    # Not no-referrer: a page sent with no-referrer makes the browser post its own forms with
    # `Origin: null`, which Django's CSRF check refuses. same-origin already keeps the URL (and its
    # state) from every other origin.
    response = browser.get(authorize_path(application))

    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_session_and_csrf_cookies_are_secure_httponly_and_lax(member):
    client = Client()
    page = client.get("/accounts/login/")
    signed_in = client.post("/accounts/login/", {"login": member.email, "password": PASSWORD})

    csrf = page.cookies["csrftoken"]
    session = signed_in.cookies["sessionid"]
    assert signed_in.status_code == 302
    for cookie in (csrf, session):
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"


# --- CSRF on the forms that matter most -----------------------------------------------------


def test_consent_and_logout_confirmation_forms_carry_the_csrf_token(browser, application):
    consent = browser.get(authorize_path(application))
    code, verifier = flow.get_code(browser, application, "openid")
    id_token = flow.redeem(Client(), application, code, verifier).json()["id_token"]
    logout = browser.get("/oauth/logout?" + urlencode({"id_token_hint": id_token}))

    for page, form_id in ((consent, "consent-form"), (logout, "logout-form")):
        form = re.search(rf'<form id="{form_id}".*?</form>', page.content.decode(), re.S)
        assert form is not None
        assert 'name="csrfmiddlewaretoken"' in form.group(0)


def test_consent_post_without_a_csrf_token_is_refused_and_issues_nothing(member, application):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member)
    page = browser.get(authorize_path(application))
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}

    response = browser.post("/oauth/authorize", {**data, "allow": "true"})

    assert response.status_code == 403
    assert "Location" not in response
    assert application.grant_set.count() == 0


def test_consent_post_with_the_csrf_token_reaches_the_app(member, application):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member)
    page = browser.get(authorize_path(application))
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    token = browser.cookies["csrftoken"].value

    response = browser.post("/oauth/authorize", {**data, "allow": "true", "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI + "?code=")


# --- Templates stay inline-free ---------------------------------------------------------------

# A <script> the browser runs: one without src or nonce, unless it is a data block. allauth's WebAuthn
# and recovery-code pages pass data in <script type="application/json">, which browsers never execute
# (HTML's "data block"), so script-src does not apply to it; any other type, or none, is code.
INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\b(?:src|nonce)=)(?![^>]*\stype=[\"']application/json[\"'])[^>]*>", re.I
)
INLINE_STYLE = re.compile(r"<style(?![^>]*\bnonce=)[^>]*>", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.I)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
JAVASCRIPT_URL = re.compile(r"javascript:", re.I)


def template_files() -> list[Path]:
    return sorted(p for p in TEMPLATES_DIR.rglob("*") if p.is_file() and p.suffix in {".html", ".txt"})


def test_there_are_templates_to_scan():
    assert len(template_files()) > 20


@pytest.mark.parametrize("template", template_files(), ids=lambda p: str(p.relative_to(TEMPLATES_DIR)))
def test_template_has_no_inline_script_or_style(template):
    text = template.read_text()

    assert INLINE_SCRIPT.findall(text) == []
    assert INLINE_STYLE.findall(text) == []
    assert STYLE_ATTRIBUTE.findall(text) == []
    assert EVENT_HANDLER.findall(text) == []
    assert JAVASCRIPT_URL.findall(text) == []


@pytest.mark.parametrize(
    ("snippet", "pattern"),
    [
        ("<script>alert(1)</script>", INLINE_SCRIPT),
        ('<script type="module">', INLINE_SCRIPT),
        ('<script type="text/javascript">', INLINE_SCRIPT),
        ('<script type="application/json5">', INLINE_SCRIPT),
        ("<script data-x=\"type='application/json'\">", INLINE_SCRIPT),
        ('<style media="all">', INLINE_STYLE),
        ('<div class="x" style="color: red">', STYLE_ATTRIBUTE),
        ('<button onclick="go()">', EVENT_HANDLER),
        ('<a href="javascript:void(0)">', JAVASCRIPT_URL),
    ],
)
def test_the_template_scan_catches_inline_code(snippet, pattern):
    assert pattern.findall(snippet) != []


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="/static/x.js"></script>',
        '<script nonce="{{ csp_nonce }}">',
        "<p>style= in text</p>",
        '<script data-allauth-onload="allauth.webauthn.forms.addForm" type="application/json">',
        "<script type='application/json' id=\"js_data\">",
    ],
)
def test_the_template_scan_allows_external_nonced_code_and_data_blocks(snippet):
    assert INLINE_SCRIPT.findall(snippet) == []
    assert STYLE_ATTRIBUTE.findall(snippet) == []


# --- origin(): what may be written into the header -------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://app.example.org/callback?x=1", "https://app.example.org"),
        ("http://127.0.0.1:9000/callback", "http://127.0.0.1:9000"),
        ("https://user:pw@App.Example.org:8443/", "https://app.example.org:8443"),
        ("https://a;b.example.org/", None),  # a `;` would end the directive
        ("https://a b.example.org/", None),
        ("com.example.app:/callback", None),
        ("https://app.example.org:99999/", None),
        ("/relative", None),
        ("", None),
        (None, None),
    ],
)
def test_origin_is_scheme_host_and_port_or_nothing(url, expected):
    assert origin(url) == expected
