import time

import pytest
from django.db.models.signals import post_save
from django.test import Client

from apps.oauth.models import AccessToken
from apps.oauth.validators import LatchOAuth2Validator
from tests.accounts.factories import UserFactory
from tests.accounts.mfa import sign_in
from tests.oauth.exchange import exchanging_service, member_token
from tests.oauth.factories import ApplicationFactory


@pytest.fixture
def member():
    return UserFactory(first_name="Ada", last_name="Lovelace", email="ada@example.org")


@pytest.fixture
def browser(member) -> Client:
    """A browser in which the member is signed in to Latch."""
    browser = Client()
    browser.force_login(member)
    return browser


@pytest.fixture
def password_browser(member) -> Client:
    """The member signed in through the sign-in page with their password (no second factor)."""
    browser = Client()
    assert sign_in(browser, member).status_code == 302
    return browser


@pytest.fixture
def application():
    """A confidential authorization-code application; its plaintext secret is `.secret`."""
    return ApplicationFactory()


@pytest.fixture
def slow_issuance(monkeypatch):
    """Hold each token request inside its transaction long enough for a concurrent one to arrive."""
    original = LatchOAuth2Validator.save_bearer_token

    def slow(self, token, request, *args, **kwargs):
        time.sleep(0.5)
        return original(self, token, request, *args, **kwargs)

    monkeypatch.setattr(LatchOAuth2Validator, "save_bearer_token", slow)


@pytest.fixture
def minted_access_tokens():
    """The ids of the access tokens created during the test, however they were created."""
    minted: list[int] = []

    def record(sender, instance, created, **kwargs):
        if created:
            minted.append(instance.pk)

    post_save.connect(record, sender=AccessToken, weak=False)
    yield minted
    post_save.disconnect(record, sender=AccessToken)


# --- Token exchange (tests/oauth/test_token_exchange*.py) ---------------------------------------


@pytest.fixture
def frontend():
    """The app the member signed in to; it hands the member's token to the service."""
    return ApplicationFactory()


@pytest.fixture
def service(frontend):
    """A confidential service whose policy lets it exchange the front end's tokens."""
    return exchanging_service(subject_clients=[frontend])


@pytest.fixture
def subject(member, frontend) -> dict:
    """The member's token response at the front end (with a refresh token)."""
    return member_token(member, frontend, "member-read activity-read group-read offline_access")
