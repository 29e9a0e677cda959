"""Allow and Deny answer the request Latch validated and showed, never what the form posts back.

The consent page is rendered after oauthlib validated the authorization request; the browser posts
back one id for that request, kept in the session. Whatever else the form carries is not Latch's.
"""

from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.oauth import pending_consent
from apps.oauth.models import Consent, Grant
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory, pkce_pair
from tests.oauth.test_failure_paths import assert_error_page

pytestmark = pytest.mark.django_db

OTHER_REDIRECT_URI = "https://other.example.net/callback"
SECOND_REDIRECT_URI = "https://app.example.org/second-callback"
SCOPE = "openid member-read"


@pytest.fixture
def application():
    return ApplicationFactory(redirect_uris=[REDIRECT_URI, SECOND_REDIRECT_URI])


@pytest.fixture
def other_application():
    """Another real client, with a redirect URI of its own."""
    return ApplicationFactory(redirect_uris=[OTHER_REDIRECT_URI])


def shown_form(browser: Client, application, scope: str = SCOPE, **extra) -> dict[str, str]:
    """The consent page's form as the browser would post it back (Deny: without `allow`)."""
    _, challenge = pkce_pair()
    page = flow.consent_page(browser, application, scope, challenge, nonce="nonce-1", **extra)
    assert page.status_code == 200, page.content
    return {key: value for key, value in page.context["form"].initial.items() if value is not None}


def answer(browser: Client, data: dict[str, str], allow: bool):
    return browser.post("/oauth/authorize", {**data, "allow": "true"} if allow else data)


def assert_refused(response) -> None:
    """An error page: no redirect anywhere, no code, no remembered consent."""
    assert_error_page(response, "invalid_request")
    assert not Grant.objects.exists()
    assert not Consent.objects.exists()


@pytest.mark.parametrize("allow", [True, False], ids=["allow", "deny"])
def test_posting_another_clients_id_with_its_registered_uri_redirects_nowhere(
    browser, application, other_application, allow
):
    data = shown_form(browser, application)
    data.update(client_id=other_application.client_id, redirect_uri=OTHER_REDIRECT_URI)

    assert_refused(answer(browser, data, allow))


@pytest.mark.parametrize("allow", [True, False], ids=["allow", "deny"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_id", "other"),
        ("redirect_uri", SECOND_REDIRECT_URI),  # registered for the app, but not the one validated
        ("scope", "openid member-read checkout-read"),  # allowed for the app, never shown
        ("state", "attacker-state"),
        ("code_challenge", pkce_pair()[1]),
        ("code_challenge_method", "plain"),
        ("nonce", "attacker-nonce"),
        ("response_type", "token"),
        ("resource", "https://api.example.net/"),
    ],
)
def test_a_consent_form_carrying_a_changed_authorization_parameter_is_refused(
    browser, application, other_application, field, value, allow
):
    data = shown_form(browser, application)
    data[field] = other_application.client_id if value == "other" else value

    assert_refused(answer(browser, data, allow))


def test_allow_issues_the_code_for_the_request_that_was_shown(browser, application):
    verifier, challenge = pkce_pair()
    page = flow.consent_page(browser, application, SCOPE, challenge, nonce="nonce-1")
    data = {key: value for key, value in page.context["form"].initial.items() if value is not None}

    response = answer(browser, data, allow=True)

    params = flow.redirect_params(response)
    assert params["state"] == "state-123"
    grant = Grant.objects.get(code=params["code"])
    assert grant.application == application
    assert grant.redirect_uri == REDIRECT_URI
    assert grant.scope == SCOPE
    assert grant.code_challenge == challenge
    assert grant.nonce == "nonce-1"
    assert Consent.objects.get(application=application).scopes == SCOPE.split()
    assert flow.redeem(Client(), application, params["code"], verifier).status_code == 200


def test_deny_redirects_with_access_denied_state_and_iss_to_the_validated_uri(browser, application):
    data = shown_form(browser, application, redirect_uri=SECOND_REDIRECT_URI)

    response = answer(browser, data, allow=False)

    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == SECOND_REDIRECT_URI
    params = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert params == {"error": "access_denied", "state": "state-123", "iss": "https://testserver"}
    denied = AuditEvent.objects.get(event=AuditEvent.Event.CONSENT_DENIED)
    assert denied.client_id == application.client_id
    assert denied.details["scope"] == SCOPE


@pytest.mark.parametrize("allow", [True, False], ids=["allow", "deny"])
def test_the_same_consent_form_posted_twice_is_refused_the_second_time(browser, application, allow):
    data = shown_form(browser, application)
    assert answer(browser, data, allow).status_code == 302
    grants = Grant.objects.count()

    response = answer(browser, data, allow)

    assert_error_page(response, "invalid_request")
    assert Grant.objects.count() == grants


def test_a_double_click_answers_once_even_when_both_posts_read_the_same_session(browser, application):
    """Two concurrent posts may both load the session before either saves it without the id."""
    data = shown_form(browser, application)
    session = browser.session
    pending = session[pending_consent.PENDING_CONSENT]
    assert answer(browser, data, allow=True).status_code == 302
    session[pending_consent.PENDING_CONSENT] = pending  # what the second post read
    session.save()

    response = answer(browser, data, allow=True)

    assert_error_page(response, "invalid_request")
    assert Grant.objects.count() == 1


def test_a_consent_form_without_its_request_id_is_refused(browser, application):
    data = shown_form(browser, application)
    del data["consent_request"]

    assert_refused(answer(browser, data, allow=True))


def test_an_unknown_request_id_is_refused(browser, application):
    shown_form(browser, application)

    assert_refused(answer(browser, {"consent_request": "not-a-request"}, allow=True))


def test_a_request_id_shown_in_another_session_is_refused(browser, application):
    data = shown_form(browser, application)
    elsewhere = Client()
    elsewhere.force_login(UserFactory())

    assert_refused(answer(elsewhere, data, allow=True))
    assert answer(browser, data, allow=True).status_code == 302  # still the member's to answer


def test_an_expired_request_id_is_refused(browser, application, monkeypatch):
    data = shown_form(browser, application)
    later = pending_consent.now() + pending_consent.LIFETIME
    monkeypatch.setattr(pending_consent, "now", lambda: later)

    assert_refused(answer(browser, data, allow=True))


def test_only_the_latest_consent_pages_of_a_session_are_kept(browser, application):
    oldest = shown_form(browser, application)
    for _ in range(pending_consent.KEPT_PER_SESSION - 1):
        shown_form(browser, application)
    newest = shown_form(browser, application)

    assert_refused(answer(browser, oldest, allow=True))
    assert answer(browser, newest, allow=True).status_code == 302


def test_an_app_deleted_after_its_consent_page_was_shown_gets_an_error_page(browser, application):
    data = shown_form(browser, application)
    application.delete()

    response = answer(browser, data, allow=True)

    assert_error_page(response, "invalid_client")
