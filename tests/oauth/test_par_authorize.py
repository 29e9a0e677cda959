"""A pushed request at /oauth/authorize (RFC 9126 §4): only its parameters count, it is answered
once, and a request_uri that cannot be used gets an error page, never a redirect."""

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from oauth2_provider.oauth2_backends import get_oauthlib_core

from apps.oauth import par
from apps.oauth.models import Grant, PushedAuthorizationRequest
from tests.accounts.mfa import activate_totp
from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory, pkce_pair, public_application
from tests.oauth.par import authorize_url, request_uri

pytestmark = pytest.mark.django_db

MFA_LEVEL = "urn:latch:acr:mfa"


def allow(browser: Client, page):
    assert page.status_code == 200, page.content
    assert page.templates[0].name == "oauth/authorize.html"
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    return browser.post("/oauth/authorize", {**data, "allow": "true"})


def error_page(response, error: str) -> None:
    assert response.status_code == 400, response.get("Location")
    assert response.templates[0].name == "oauth/error.html"
    assert response.context["error"]["error"] == error


def sent_to_sign_in(response) -> str:
    """The URL the sign-in page will send the member back to."""
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    return parse_qs(urlparse(response["Location"]).query)["next"][0]


def move_clock(pushed_uri: str, seconds: float) -> None:
    """As if `seconds` had passed since the push (or since its arrival, which set `expires` anew)."""
    rows = PushedAuthorizationRequest.objects.filter(request_uri=pushed_uri)
    row = rows.get()
    rows.update(
        created_at=row.created_at - timedelta(seconds=seconds),
        expires=row.expires - timedelta(seconds=seconds),
    )


# --- The whole flow ----------------------------------------------------------------------------


def test_push_authorize_consent_code_token(browser, application):
    verifier, challenge = pkce_pair()
    uri = request_uri(application, "openid member-read", challenge, nonce="nonce-1", state="pushed-state")

    page = browser.get(authorize_url(application, uri))
    answer = flow.redirect_params(allow(browser, page))
    tokens = flow.redeem(Client(), application, answer["code"], verifier)

    assert page.context["application"] == application
    assert [scope.name for scope in page.context["scopes"]] == ["openid", "member-read"]
    assert answer["state"] == "pushed-state"
    assert answer["iss"] == "https://testserver"
    assert tokens.status_code == 200, tokens.content
    assert set(tokens.json()["scope"].split()) == {"openid", "member-read"}
    assert PushedAuthorizationRequest.objects.get().answered_at is not None


def test_a_public_client_brings_its_pushed_request(browser):
    app = public_application()
    verifier, challenge = pkce_pair()

    answer = flow.redirect_params(
        allow(browser, browser.get(authorize_url(app, request_uri(app, challenge=challenge))))
    )

    assert flow.redeem(Client(), app, answer["code"], verifier).status_code == 200


def test_deny_answers_access_denied_and_spends_the_request(browser, application):
    uri = request_uri(application, challenge=pkce_pair()[1])
    page = browser.get(authorize_url(application, uri))
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}

    answer = flow.redirect_params(browser.post("/oauth/authorize", data))

    assert answer["error"] == "access_denied"
    error_page(browser.get(authorize_url(application, uri)), "invalid_request_uri")


def test_remembered_consent_answers_at_once_and_only_once(browser, application):
    flow.obtain_code(browser, application, "openid member-read")
    uri = request_uri(application, challenge=pkce_pair()[1])

    first = browser.get(authorize_url(application, uri))
    replay = browser.get(authorize_url(application, uri))

    assert "code" in flow.redirect_params(first)
    error_page(replay, "invalid_request_uri")


# --- Requests that cannot be used ----------------------------------------------------------------


def test_a_reused_request_uri_gets_an_error_page(browser, application):
    uri = request_uri(application, challenge=pkce_pair()[1])
    flow.redirect_params(allow(browser, browser.get(authorize_url(application, uri))))

    error_page(browser.get(authorize_url(application, uri)), "invalid_request_uri")
    assert Grant.objects.count() == 1


def test_an_expired_request_uri_gets_an_error_page(browser, application):
    uri = request_uri(application, challenge=pkce_pair()[1])
    move_clock(uri, 61)

    error_page(browser.get(authorize_url(application, uri)), "invalid_request_uri")


def test_a_request_uri_that_arrived_in_time_lasts_for_the_sign_in_round_trip(browser, application):
    uri = request_uri(application, challenge=pkce_pair()[1])
    assert browser.get(authorize_url(application, uri)).status_code == 200
    move_clock(uri, 5 * 60)  # the member took five minutes to sign in and read the page

    assert browser.get(authorize_url(application, uri)).status_code == 200
    move_clock(uri, 6 * 60)
    error_page(browser.get(authorize_url(application, uri)), "invalid_request_uri")


def test_another_clients_request_uri_gets_an_error_page(browser, application):
    uri = request_uri(application, challenge=pkce_pair()[1])
    other = ApplicationFactory()

    error_page(browser.get(authorize_url(other, uri)), "invalid_request_uri")
    # Nothing was spent: its own client can still use it.
    assert browser.get(authorize_url(application, uri)).status_code == 200


@pytest.mark.parametrize(
    "uri", ["urn:ietf:params:oauth:request_uri:unknown", "", "https://app.example.org/request.jwt", "\x00"]
)
def test_an_unknown_request_uri_gets_an_error_page(browser, application, uri):
    error_page(browser.get(authorize_url(application, uri)), "invalid_request_uri")


def test_a_request_uri_without_its_client_id_gets_an_error_page(browser, application):
    uri = request_uri(application, challenge=pkce_pair()[1])

    error_page(browser.get("/oauth/authorize?" + urlencode({"request_uri": uri})), "invalid_request")


def test_a_duplicated_parameter_beside_a_request_uri_gets_an_error_page(browser, application):
    uri = request_uri(application, challenge=pkce_pair()[1])

    response = browser.get(authorize_url(application, uri) + "&request_uri=" + uri)

    error_page(response, "invalid_request")


def test_a_url_parameter_other_than_the_pushed_one_is_refused(browser, application):
    uri = request_uri(application, "openid member-read", pkce_pair()[1])

    response = browser.get(authorize_url(application, uri, scope="openid member-read offline_access"))

    error_page(response, "invalid_request")
    assert "scope" in response.context["error"]["description"]


def test_a_url_parameter_that_repeats_the_pushed_one_is_accepted(browser, application):
    """OIDC clients repeat response_type and scope in the URL (OIDC Core §6.1)."""
    uri = request_uri(application, "openid member-read", pkce_pair()[1])

    response = browser.get(authorize_url(application, uri, response_type="code", scope="openid member-read"))

    assert response.status_code == 200


# --- Apps that must push -------------------------------------------------------------------------


def test_a_plain_request_to_an_app_that_requires_pushed_requests_gets_an_error_page(browser):
    app = ApplicationFactory(require_pushed_authorization_requests=True)

    response = flow.consent_page(browser, app, "member-read", pkce_pair()[1])

    error_page(response, "invalid_request")
    assert "/oauth/par" in response.context["error"]["description"]


def test_a_plain_head_request_to_an_app_that_requires_pushed_requests_gets_no_code(browser):
    """Django answers HEAD with get(): it must not be a way around the rule."""
    app = ApplicationFactory(require_pushed_authorization_requests=True)
    app.skip_authorization = True  # a GET would answer with a code at once
    app.save()
    params = flow.authorize_params(app, "member-read", pkce_pair()[1])

    response = browser.head("/oauth/authorize?" + urlencode(params))

    assert response.status_code == 400
    assert not Grant.objects.exists()


def test_an_app_that_requires_pushed_requests_signs_members_in_with_them(browser):
    app = ApplicationFactory(require_pushed_authorization_requests=True)
    verifier, challenge = pkce_pair()

    answer = flow.redirect_params(
        allow(browser, browser.get(authorize_url(app, request_uri(app, challenge=challenge))))
    )

    assert flow.redeem(Client(), app, answer["code"], verifier).status_code == 200


def test_the_server_wide_setting_requires_pushed_requests_of_every_app(browser, application, settings):
    settings.LATCH_REQUIRE_PAR = True

    error_page(flow.consent_page(browser, application, "member-read", pkce_pair()[1]), "invalid_request")
    assert (
        browser.get(
            authorize_url(application, request_uri(application, challenge=pkce_pair()[1]))
        ).status_code
        == 200
    )


def test_a_signed_out_member_is_refused_before_being_sent_to_sign_in(application):
    app = ApplicationFactory(require_pushed_authorization_requests=True)

    error_page(flow.consent_page(Client(), app, "member-read", pkce_pair()[1]), "invalid_request")


# --- Round trips: the URL stays the short one, the pushed parameters hold -------------------------


def signs_in_and_comes_back(browser: Client, application, sign_in: Callable[[], None], **pushed: str):
    """Bring a pushed request, be sent to sign in, `sign_in()`, come back: the app's answer."""
    url = authorize_url(application, request_uri(application, challenge=pkce_pair()[1], **pushed))
    back_to = sent_to_sign_in(browser.get(url))
    sign_in()
    assert back_to == url  # the short URL, not the pushed parameters
    return flow.redirect_params(allow(browser, browser.get(back_to)))


def test_a_signed_out_member_signs_in_and_comes_back_to_the_request_uri(member, application):
    browser = Client()

    assert "code" in signs_in_and_comes_back(browser, application, lambda: browser.force_login(member))


def test_a_pushed_prompt_login_asks_for_a_sign_in_newer_than_the_push(browser, application):
    flow.set_signed_in_at(browser, timezone.now() - timedelta(hours=1))

    def sign_in_again() -> None:
        flow.set_signed_in_at(browser, timezone.now() + timedelta(seconds=1))

    assert "code" in signs_in_and_comes_back(browser, application, sign_in_again, prompt="login")


def test_coming_back_without_signing_in_again_is_sent_to_sign_in_again(browser, application):
    uri = request_uri(application, challenge=pkce_pair()[1], max_age="0")
    url = authorize_url(application, uri)
    flow.set_signed_in_at(browser, timezone.now() - timedelta(minutes=5))

    first, second = browser.get(url), browser.get(url)

    assert sent_to_sign_in(first) == sent_to_sign_in(second) == url
    assert PushedAuthorizationRequest.objects.get().answered_at is None


def test_a_pushed_prompt_none_for_a_signed_out_member_answers_login_required_once(application):
    uri = request_uri(application, challenge=pkce_pair()[1], prompt="none")

    answer = flow.redirect_params(Client().get(authorize_url(application, uri)))

    assert answer["error"] == "login_required"
    error_page(Client().get(authorize_url(application, uri)), "invalid_request_uri")


def test_a_pushed_acr_values_sends_a_member_with_an_authenticator_to_prove_it(
    member, password_browser, application
):
    activate_totp(member)
    uri = request_uri(application, "openid", pkce_pair()[1], acr_values=MFA_LEVEL)
    url = authorize_url(application, uri)

    step_up = password_browser.get(url)
    # The password-only link is for members without an authenticator; it changes nothing here.
    still = password_browser.get(url + f"&{par.PASSWORD_LEVEL}=1")

    assert step_up["Location"] == "/accounts/2fa/reauthenticate/?" + urlencode({"next": url})
    assert still["Location"].startswith("/accounts/2fa/reauthenticate/")


def test_a_member_without_an_authenticator_may_go_on_at_the_password_level(browser, application):
    uri = request_uri(application, "openid", pkce_pair()[1], acr_values=MFA_LEVEL)

    choice = browser.get(authorize_url(application, uri))
    page = browser.get(choice.context["continue_url"])

    assert choice.templates[0].name == "oauth/two_factor_requested.html"
    assert choice.context["continue_url"] == authorize_url(application, uri, **{par.PASSWORD_LEVEL: "1"})
    assert "code" in flow.redirect_params(allow(browser, page))


def test_a_consent_page_shown_twice_answers_once(browser, application):
    """A reload shows the page again (RFC 9126 §4 allows it); only one of the two pages answers."""
    uri = request_uri(application, challenge=pkce_pair()[1])
    first = browser.get(authorize_url(application, uri))
    second = browser.get(authorize_url(application, uri))

    answer = flow.redirect_params(allow(browser, second))
    late = allow(browser, first)

    assert "code" in answer
    error_page(late, "invalid_request_uri")
    assert Grant.objects.count() == 1


# --- What DOT is relied on for ------------------------------------------------------------------


def test_dot_hands_oauthlib_the_query_of_the_full_path():
    """Pins par.as_oauthlib_reads_it: DOT's OAuthLibCore reads the query from get_full_path(), the
    private `_extract_params`; if it read request.GET, the substitution there would be enough."""
    request = RequestFactory().get("/oauth/authorize?client_id=a&request_uri=urn%3Ax")
    request.GET = request.GET.copy()
    request.GET.setlist("scope", ["member-read"])

    uri, _method, _body, _headers = get_oauthlib_core()._extract_params(par.as_oauthlib_reads_it(request))

    assert parse_qs(urlparse(uri).query) == {
        "client_id": ["a"],
        "request_uri": ["urn:x"],
        "scope": ["member-read"],
    }
    assert request.get_full_path() == "/oauth/authorize?client_id=a&request_uri=urn%3Ax"


def test_the_redirect_uri_of_the_answer_is_the_pushed_one(browser):
    other_uri = "https://app.example.org/other"
    app = ApplicationFactory(redirect_uris=[REDIRECT_URI, other_uri])
    uri = request_uri(app, challenge=pkce_pair()[1], redirect_uri=other_uri)

    response = allow(browser, browser.get(authorize_url(app, uri)))

    assert response["Location"].startswith(other_uri + "?")
