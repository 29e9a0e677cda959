"""Latch's per-request state lives where a client's parameters cannot reach it.

oauthlib's Request answers any attribute it does not have with the client's parameter of that name
(`Request.__getattr__`), so a read of Latch's own state before Latch set it would read what the
client sent instead.
"""

import uuid

import pytest
from django.test import Client
from oauthlib.common import Request

from apps.oauth.models import AccessToken, Grant, RefreshToken
from apps.oauth.validators import LatchRequestState, request_state
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db

SCOPE = "openid member-read offline_access"
STATE_LOOKALIKES = {
    "token_family": str(uuid.uuid4()),
    "latch_grant": "ab",
    "latch_sign_in": "mfa",
    "latch_id_token": "1",
    "latch_spent_refresh_token": "1",
    "refresh_token_instance": "1",
    "latch_state": "x",
    "_latch_state": "x",
}


def test_oauthlib_hands_out_any_client_parameter_as_a_request_attribute():
    """What the state helper guards against; if oauthlib stops doing this, the guard stays harmless."""
    request = Request("https://latch.test/oauth/token?token_family=from-url", "POST", "latch_grant=ab")

    assert request.token_family == "from-url"
    assert request.latch_grant == "ab"
    assert getattr(request, "latch_sign_in", None) is None


def test_the_state_of_a_fresh_request_is_empty_whatever_the_client_sent():
    body = "&".join(f"{name}={value}" for name, value in STATE_LOOKALIKES.items())
    request = Request("https://latch.test/oauth/token?latch_state=x", "POST", body)

    state = request_state(request)

    assert state == LatchRequestState()
    assert request_state(request) is state


def test_parameters_named_like_latchs_state_change_nothing_when_a_code_is_redeemed(browser, application):
    code, verifier = flow.get_code(browser, application, SCOPE)

    response = flow.redeem(Client(), application, code, verifier, **STATE_LOOKALIKES)

    assert response.status_code == 200, response.content
    family = Grant.objects.get().token_family
    access_token = AccessToken.objects.get()
    assert access_token.token_family == family
    assert access_token.source_refresh_token is None
    assert access_token.id_token is not None
    assert RefreshToken.objects.get().token_family == family
    assert str(family) != STATE_LOOKALIKES["token_family"]


def test_a_cached_grant_lookalike_does_not_crash_the_token_endpoint(browser, application):
    """`latch_grant=ab&code=a` made Latch read ("a", "b") as its cached (code, grant)."""
    response = flow.redeem(Client(), application, "a", "v" * 43, latch_grant="ab")

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"


def test_parameters_named_like_latchs_state_change_nothing_on_a_refresh(member, application):
    tokens = flow.obtain_tokens(member, application, SCOPE)
    family = RefreshToken.objects.get().token_family

    response = flow.refresh(Client(), application, tokens["refresh_token"], **STATE_LOOKALIKES)

    assert response.status_code == 200, response.content
    live = RefreshToken.objects.get(revoked__isnull=True)
    assert live.token_family == family
    assert AccessToken.objects.get().token_family == family


@pytest.mark.parametrize("name", sorted(STATE_LOOKALIKES))
def test_parameters_named_like_latchs_state_change_nothing_for_an_app_token(name):
    kiosk = service_application()

    response = flow.client_credentials(Client(), kiosk, scope="member-read", **{name: STATE_LOOKALIKES[name]})

    assert response.status_code == 200, response.content
    access_token = AccessToken.objects.get()
    assert access_token.token_family is None
    assert access_token.source_refresh_token is None
    assert access_token.id_token is None


@pytest.mark.parametrize("resource", ["not a uri", "https://api.example.org/#fragment"])
def test_a_bad_resource_parameter_is_invalid_target_not_a_crash(resource):
    kiosk = service_application()

    response = flow.client_credentials(Client(), kiosk, scope="member-read", resource=resource)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_target"
    assert not AccessToken.objects.exists()
