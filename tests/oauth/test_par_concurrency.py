"""Races on PostgreSQL: one pushed request brought twice at the same moment gets one answer.

A sleep while the code is saved holds each request inside its transaction long enough that both
have validated the request_uri and issued a code before either marks it answered; only one
answer's UPDATE can match the row, and the other's transaction (its code with it) is rolled back.
"""

import time

import pytest
from django.test import Client

from apps.oauth.models import Grant, PushedAuthorizationRequest
from apps.oauth.validators import LatchOAuth2Validator
from tests.concurrency import race
from tests.oauth import flow
from tests.oauth.factories import pkce_pair
from tests.oauth.par import authorize_url, request_uri

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


@pytest.fixture
def slow_code(monkeypatch):
    original = LatchOAuth2Validator.save_authorization_code

    def slow(self, client_id, code, request, *args, **kwargs):
        original(self, client_id, code, request, *args, **kwargs)
        time.sleep(0.5)

    monkeypatch.setattr(LatchOAuth2Validator, "save_authorization_code", slow)


def same_browser(browser: Client) -> Client:
    """Another tab of the same browser: its own client object (one per thread), the same session."""
    tab = Client()
    tab.cookies = browser.cookies
    return tab


def outcome(responses) -> list[tuple[int, bool]]:
    return sorted(
        (response.status_code, response.status_code == 302 and "code=" in response["Location"])
        for response in responses
    )


def test_one_request_uri_brought_twice_at_once_issues_one_code(browser, application, slow_code):
    flow.obtain_code(browser, application, "openid member-read")  # remembered: no page to show
    Grant.objects.all().delete()
    url = authorize_url(application, request_uri(application, challenge=pkce_pair()[1]))
    tabs = [same_browser(browser), same_browser(browser)]

    responses = race([lambda tab=tab: tab.get(url) for tab in tabs])

    assert outcome(responses) == [(302, True), (400, False)]
    assert Grant.objects.count() == 1
    assert PushedAuthorizationRequest.objects.get().answered_at is not None


def test_two_consent_pages_of_one_request_answered_at_once_issue_one_code(browser, application, slow_code):
    url = authorize_url(application, request_uri(application, challenge=pkce_pair()[1]))
    forms = []
    for _ in range(2):
        page = browser.get(url)
        assert page.status_code == 200
        forms.append(
            {**{k: v for k, v in page.context["form"].initial.items() if v is not None}, "allow": "true"}
        )
    tabs = [same_browser(browser), same_browser(browser)]

    responses = race(
        [
            lambda tab=tab, form=form: tab.post("/oauth/authorize", form)
            for tab, form in zip(tabs, forms, strict=True)
        ]
    )

    assert outcome(responses) == [(302, True), (400, False)]
    assert Grant.objects.count() == 1
