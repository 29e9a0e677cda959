"""Failed sign-ins are throttled per account and per address, and the block lifts by itself."""

import time

import pytest
from django.test import Client

from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOO_MANY = "Too many failed login attempts"


@pytest.fixture
def clock(monkeypatch):
    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def sign_in(email, password, ip="203.0.113.7"):
    browser = Client(REMOTE_ADDR=ip)
    response = browser.post("/accounts/login/", {"login": email, "password": password})
    return browser, response


def test_five_wrong_passwords_lock_the_account_for_a_while_then_it_opens_again(clock):
    UserFactory(email="ada@example.org")
    for n in range(5):
        sign_in("ada@example.org", "wrong", ip=f"198.51.100.{n}")

    browser, response = sign_in("ada@example.org", PASSWORD, ip="192.0.2.1")
    assert "_auth_user_id" not in browser.session
    assert TOO_MANY in response.content.decode()

    clock[0] += 5 * 60 + 1

    browser, _ = sign_in("ada@example.org", PASSWORD, ip="192.0.2.1")
    assert "_auth_user_id" in browser.session


def test_one_address_trying_many_accounts_is_slowed_down(clock):
    UserFactory(email="grace@example.org")
    for n in range(10):
        sign_in(f"nobody{n}@example.org", "wrong")

    _, response = sign_in("grace@example.org", "wrong")

    assert TOO_MANY in response.content.decode()
    browser, _ = sign_in("grace@example.org", PASSWORD, ip="192.0.2.2")
    assert "_auth_user_id" in browser.session
