"""Races on PostgreSQL: a single-use initial access token spent by two registrations at once.

A sleep while the application is created holds the first registration inside its transaction with
the token's row locked; the second waits for the lock, then finds the token used up.
"""

import time

import pytest
from django.test import Client

from apps.oauth import services as oauth_services
from apps.oauth.models import Application
from apps.registration import services
from apps.registration.models import ClientRegistration, InitialAccessToken
from tests.concurrency import race
from tests.registration.factories import code_client_metadata, initial_token, register

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


@pytest.fixture
def slow_registration(monkeypatch):
    original = oauth_services.create_application

    def slow(**kwargs):
        created = original(**kwargs)
        time.sleep(0.5)
        return created

    monkeypatch.setattr(services, "create_application", slow)


@pytest.mark.usefixtures("slow_registration")
def test_two_registrations_with_one_single_use_token_at_once_register_one_client():
    token = initial_token(uses=1)

    responses = race([lambda: register(token, code_client_metadata(), Client()) for _ in range(2)])

    assert sorted(response.status_code for response in responses) == [201, 401]
    assert Application.objects.count() == 1
    assert ClientRegistration.objects.count() == 1
    assert InitialAccessToken.objects.get().uses == 1


@pytest.mark.usefixtures("slow_registration")
def test_three_registrations_racing_for_two_uses_register_two_clients():
    token = initial_token(uses=2)

    responses = race([lambda: register(token, code_client_metadata(), Client()) for _ in range(3)])

    assert sorted(response.status_code for response in responses) == [201, 201, 401]
    assert Application.objects.count() == 2
    assert InitialAccessToken.objects.get().uses == 2
