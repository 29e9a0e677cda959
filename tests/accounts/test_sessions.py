import pytest
from django.conf import settings
from django.test import Client

from apps.accounts.models import HashedKeySession
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_sessions_are_stored_under_a_digest_of_their_key():
    UserFactory(email="ada@example.org")
    browser = Client()
    browser.post("/accounts/login/", {"login": "ada@example.org", "password": PASSWORD})
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value

    stored = list(HashedKeySession.objects.values_list("session_key", flat=True))

    assert cookie not in stored
    assert len(stored) == 1
    assert len(stored[0]) == 64
    assert browser.get("/accounts/").status_code == 200


def test_a_leaked_session_row_does_not_sign_anyone_in():
    UserFactory(email="ada@example.org")
    Client().post("/accounts/login/", {"login": "ada@example.org", "password": PASSWORD})
    leaked_key = HashedKeySession.objects.get().session_key

    intruder = Client()
    intruder.cookies[settings.SESSION_COOKIE_NAME] = leaked_key

    assert intruder.get("/accounts/").status_code == 302


def test_signing_out_deletes_the_stored_session():
    UserFactory(email="ada@example.org")
    browser = Client()
    browser.post("/accounts/login/", {"login": "ada@example.org", "password": PASSWORD})
    signed_in = HashedKeySession.objects.get().session_key

    browser.post("/accounts/logout/")

    assert not HashedKeySession.objects.filter(session_key=signed_in).exists()
