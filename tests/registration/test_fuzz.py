"""Random metadata with a good initial access token: a 201 or a 400, never a 500; a 400 stores nothing."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.oauth.models import Application
from apps.registration.models import InitialAccessToken
from tests.registration.factories import code_client_metadata, initial_token, manage, register

pytestmark = pytest.mark.django_db

FIELDS = [
    "redirect_uris", "grant_types", "response_types", "token_endpoint_auth_method", "client_name",
    "client_uri", "logo_uri", "scope", "jwks", "jwks_uri", "post_logout_redirect_uris",
    "backchannel_logout_uri", "backchannel_logout_session_required", "contacts", "client_id", "client_secret",
]  # fmt: skip
PLAUSIBLE = [
    "https://app.example.org/callback", "http://127.0.0.1:8000/cb", "http://localhost/cb", "javascript:x",
    "authorization_code", "refresh_token", "client_credentials", "none", "private_key_jwt", "code",
    "openid member-read", "checkout-write", "", "\x00", "😀", "a" * 3000, "https://*.example.org/",
]  # fmt: skip
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(PLAUSIBLE), st.text(max_size=50)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
metadata = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), json_values, max_size=8)
fuzz = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@fuzz
@given(body=metadata, on_valid_base=st.booleans())
def test_random_registrations_never_fail_with_a_500(body, on_valid_base):
    """Half the bodies are a valid registration with random changes, to get past the first check."""
    body = {**code_client_metadata(), **body} if on_valid_base else body
    token = initial_token(uses=1)
    before = Application.objects.count()

    response = register(token, body)

    assert response.status_code in (201, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")
        assert Application.objects.count() == before
        assert InitialAccessToken.objects.get(token=token).uses == 0


@fuzz
@given(body=metadata, on_valid_base=st.booleans())
def test_random_updates_never_fail_with_a_500_and_a_refused_one_changes_nothing(body, on_valid_base):
    registered = register(initial_token(), code_client_metadata()).json()
    if on_valid_base:
        body = {**code_client_metadata(), "client_id": registered["client_id"], **body}
    stored = Application.objects.values().get(client_id=registered["client_id"])

    response = manage("put", registered, body=body)

    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert Application.objects.values().get(client_id=registered["client_id"]) == stored
    json.dumps(response.json())
