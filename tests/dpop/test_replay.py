"""RFC 9449 §11.1: a proof's jti is accepted once per key, for as long as its iat is acceptable."""

import pytest
from django.core.cache import cache

from apps.dpop import replay
from apps.dpop.replay import first_use


def test_a_jti_is_new_once():
    assert first_use("key-a", "jti-1")
    assert not first_use("key-a", "jti-1")


def test_the_same_jti_under_another_key_is_new():
    assert first_use("key-a", "jti-1")
    assert first_use("key-b", "jti-1")


def test_a_jti_is_remembered_for_twice_the_acceptance_window(settings, monkeypatch):
    settings.LATCH_DPOP_PROOF_SECONDS = 60
    calls = []
    monkeypatch.setattr(cache, "add", lambda key, value, timeout: calls.append(timeout) or True)
    first_use("key-a", "jti-1")
    assert calls == [2 * (60 + replay.CLOCK_SKEW_LEEWAY_SECONDS)]


@pytest.mark.parametrize("jti", ["with spaces and : colons", "é" * 200, "\x00"])
def test_any_jti_makes_a_valid_cache_key(jti):
    assert first_use("key-a", jti)
    assert not first_use("key-a", jti)
