"""Wrong bearer tokens at the registration endpoints are counted per IP address; past the limit, 429."""

import pytest

from apps.audit.models import AuditEvent
from apps.oauth.models import Application
from tests.registration.factories import code_client_metadata, initial_token, manage, register

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.LATCH_REGISTRATION_TOKEN_FAILURES_PER_IP = 3
    settings.LATCH_REGISTRATION_TOKEN_FAILURE_WINDOW = 300


def test_past_the_limit_even_the_right_token_waits():
    token = initial_token()
    for _ in range(3):
        assert register("wrong", code_client_metadata()).status_code == 401

    response = register(token, code_client_metadata())

    assert response.status_code == 429
    assert response.json()["error"] == "temporarily_unavailable"
    assert 0 < int(response["Retry-After"]) <= 300
    assert not Application.objects.exists()
    assert AuditEvent.objects.filter(event=AuditEvent.Event.THROTTLED).exists()


def test_another_address_is_not_held_up():
    token = initial_token()
    for _ in range(3):
        register("wrong", code_client_metadata())

    response = register(token, code_client_metadata(), REMOTE_ADDR="192.0.2.44")

    assert response.status_code == 201


def test_wrong_registration_access_tokens_count_too():
    registered = register(initial_token(), code_client_metadata()).json()
    for _ in range(3):
        assert manage("get", registered, token="wrong").status_code == 401

    assert manage("get", registered).status_code == 429


def test_refused_metadata_with_a_good_token_is_not_a_token_failure():
    token = initial_token()
    for _ in range(5):
        assert (
            register(token, code_client_metadata(redirect_uris=["http://evil.example/"])).status_code == 400
        )

    assert register(token, code_client_metadata()).status_code == 201
