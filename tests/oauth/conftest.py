import pytest
from django.test import Client

from tests.accounts.factories import UserFactory
from tests.accounts.mfa import sign_in
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
