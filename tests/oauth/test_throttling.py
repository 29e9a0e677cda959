"""Guessing client secrets gets 429 and Retry-After; real clients are not locked out for long."""

import time

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from apps.oauth.models import AccessToken, Application
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"]


@pytest.fixture
def limits(settings):
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_IP = 6
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT = 3
    settings.LATCH_CLIENT_AUTH_FAILURE_WINDOW = 60


@pytest.fixture
def clock(monkeypatch):
    """Frozen time that a test can move forward (the cache's expiry follows it too)."""
    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def guess(application, endpoint="/oauth/token", ip="203.0.113.7"):
    data = {"grant_type": "client_credentials", "token": "x"}
    return Client(REMOTE_ADDR=ip).post(endpoint, data, **flow.basic_auth(application.client_id, "guess"))


def authenticate(application, ip="203.0.113.7"):
    return Client(REMOTE_ADDR=ip).post(
        "/oauth/token", {"grant_type": "client_credentials"}, **flow.app_auth(application)
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_repeated_wrong_secrets_for_one_client_get_429_with_retry_after(limits, clock, endpoint):
    application = service_application()

    statuses = [guess(application, endpoint, ip=f"203.0.113.{n}").status_code for n in range(5)]

    assert statuses == [401, 401, 401, 429, 429]
    response = guess(application, endpoint, ip="203.0.113.99")
    assert response.status_code == 429
    assert response.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_a_client_under_attack_still_gets_tokens_with_its_real_secret(limits, clock):
    application = service_application()
    for n in range(5):
        guess(application, ip=f"198.51.100.{n}")

    assert authenticate(application, ip="192.0.2.10").status_code == 200


def test_an_address_past_its_limit_is_refused_everything_until_the_window_ends(limits, clock):
    victims = [service_application() for _ in range(7)]
    for application in victims:
        guess(application)

    assert authenticate(victims[0]).status_code == 429
    assert authenticate(victims[0], ip="192.0.2.10").status_code == 200

    clock[0] += 61

    assert authenticate(victims[0]).status_code == 200


def test_after_the_window_the_guessed_client_authenticates_from_the_same_address(limits, clock):
    application = service_application()
    for _ in range(4):
        guess(application)

    clock[0] += 61

    assert guess(application).status_code == 401
    assert authenticate(application).status_code == 200


def test_malformed_basic_headers_count_as_failures_and_never_crash(limits, clock):
    for header in ["Basic !!!", "Basic " + "A" * 3000, "Basic"]:
        response = Client().post(
            "/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=header
        )
        assert response.status_code == 401


def with_legacy_pbkdf2_secret(application):
    """A secret an older installation stored with DOT's default PBKDF2 hasher: maybe a guessable one."""
    application.secret = "legacy-secret"
    Application.objects.filter(pk=application.pk).update(
        client_secret=make_password(application.secret, hasher="pbkdf2_sha256")
    )
    return application


def test_a_legacy_secret_is_refused_even_when_right_once_its_client_is_past_the_limit(limits, clock):
    """Otherwise a guesser keeps learning from each attempt: 401 for wrong, 200 for right."""
    application = with_legacy_pbkdf2_secret(service_application())
    for n in range(4):
        guess(application, ip=f"198.51.100.{n}")

    response = authenticate(application, ip="192.0.2.10")

    assert response.status_code == 429
    assert response.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_attempt_for_a_legacy_client_past_its_limit_gets_429(limits, clock, endpoint):
    application = with_legacy_pbkdf2_secret(service_application())

    statuses = [guess(application, endpoint, ip=f"203.0.113.{n}").status_code for n in range(5)]

    assert statuses == [401, 401, 401, 429, 429]
    right = Client(REMOTE_ADDR="192.0.2.10").post(
        endpoint, {"grant_type": "client_credentials", "token": "x"}, **flow.app_auth(application)
    )
    assert right.status_code == 429


def test_a_legacy_client_under_its_limit_and_after_the_window_authenticates(limits, clock):
    application = with_legacy_pbkdf2_secret(service_application())
    for _ in range(2):
        guess(application, ip="198.51.100.1")
    assert authenticate(application, ip="192.0.2.10").status_code == 200

    for _ in range(2):
        guess(application, ip="198.51.100.1")
    assert authenticate(application, ip="192.0.2.10").status_code == 429

    clock[0] += 61

    assert authenticate(application, ip="192.0.2.10").status_code == 200
