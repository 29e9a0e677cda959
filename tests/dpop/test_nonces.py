"""RFC 9449 §8: server nonces, the same on every instance, rotating every window."""

import time

import pytest

from apps.dpop.nonces import current_nonce, nonce_is_current


@pytest.fixture(autouse=True)
def window(settings):
    settings.LATCH_DPOP_NONCE_SECONDS = 300


@pytest.fixture
def clock(monkeypatch):
    """`clock(t)` sets the time the nonces see."""

    def set_to(when: float) -> None:
        monkeypatch.setattr(time, "time", lambda: when)

    return set_to


def test_the_current_nonce_is_current():
    assert nonce_is_current(current_nonce())


def test_a_nonce_is_base64url_without_padding():
    nonce = current_nonce()
    assert len(nonce) == 43
    assert set(nonce) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_nonce_is_the_same_within_a_window_and_changes_with_it(clock):
    clock(3000.0)
    first = current_nonce()
    clock(3299.0)
    assert current_nonce() == first
    clock(3300.0)
    assert current_nonce() != first


def test_the_previous_windows_nonce_is_still_accepted(clock):
    clock(3000.0)
    nonce = current_nonce()
    clock(3300.0)
    assert nonce_is_current(nonce)


def test_a_nonce_two_windows_old_is_refused(clock):
    clock(3000.0)
    nonce = current_nonce()
    clock(3600.0)
    assert not nonce_is_current(nonce)


def test_a_nonce_of_a_future_window_is_refused(clock):
    clock(3300.0)
    nonce = current_nonce()
    clock(3000.0)
    assert not nonce_is_current(nonce)


def test_the_nonce_depends_on_the_secret_key(settings, clock):
    clock(3000.0)
    nonce = current_nonce()
    settings.SECRET_KEY = "another secret key, of another deployment...."
    assert current_nonce() != nonce
    assert not nonce_is_current(nonce)


@pytest.mark.parametrize("nonce", ["", "made-up", "é" * 43])
def test_made_up_nonces_are_refused(nonce):
    assert not nonce_is_current(nonce)
