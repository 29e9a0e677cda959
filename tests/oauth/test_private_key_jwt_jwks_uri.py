"""A private_key_jwt client's keys at its jwks_uri (apps/oauth/client_keys.py), the client's server
mocked with `responses`: fetched once and cached, re-fetched for an unknown kid at most once per
cooldown, and every failed fetch (timeout, too large, redirect, not https, not a JWKS) a plain
invalid_client, never a 500."""

import pytest
import requests
import responses as responses_lib
from django.core.cache import cache
from django.test import Client

from apps.oauth import client_keys
from apps.oauth.models import Application
from tests.oauth.assertions import assertion, assertion_body, client_key, jwks, pkjwt_application

pytestmark = pytest.mark.django_db

JWKS_URI = "https://app.example.org/jwks.json"


@pytest.fixture
def client_server():
    """The client's server; a request nobody registered fails the test."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def application():
    return pkjwt_application(jwks_uri=JWKS_URI)


def token_request(application, key=None):
    body = {"grant_type": "client_credentials", "scope": "member-read"}
    return Client().post("/oauth/token", {**body, **assertion_body(assertion(application, key))})


def fetches(mock, url: str = JWKS_URI) -> int:
    return sum(1 for call in mock.calls if call.request.url == url)


def test_the_keys_are_fetched_once_and_then_taken_from_the_cache(client_server, application):
    client_server.get(JWKS_URI, json=jwks(client_key()))

    assert token_request(application).status_code == 200
    assert token_request(application).status_code == 200
    assert fetches(client_server) == 1


def test_the_fetch_asks_for_a_jwks_and_follows_no_redirect(client_server, application):
    client_server.get(JWKS_URI, status=302, headers={"Location": "https://evil.example.org/jwks.json"})
    client_server.get("https://evil.example.org/jwks.json", json=jwks(client_key()))

    response = token_request(application)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert fetches(client_server, "https://evil.example.org/jwks.json") == 0


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param({"body": requests.exceptions.ConnectTimeout()}, id="timeout"),
        pytest.param({"body": requests.exceptions.ConnectionError()}, id="unreachable"),
        pytest.param({"status": 500, "body": "oops"}, id="server error"),
        pytest.param({"body": "not json"}, id="not json"),
        pytest.param({"json": {"keys": [client_key().private()]}}, id="private key published"),
        pytest.param({"json": {"nope": 1}}, id="not a jwks"),
    ],
)
def test_a_failed_fetch_is_invalid_client_and_logged(client_server, application, failure, caplog):
    client_server.get(JWKS_URI, **failure)

    response = token_request(application)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "oauth.client_jwks_fetch_failed" in caplog.text


def test_a_jwks_larger_than_the_limit_is_not_read_to_the_end(client_server, application, settings):
    settings.LATCH_CLIENT_JWKS_MAX_BYTES = 1000
    padded = jwks(client_key())
    padded["padding"] = "x" * 5000
    client_server.get(JWKS_URI, json=padded)

    assert token_request(application).status_code == 401


def test_the_fetch_has_a_timeout(client_server, application, settings, monkeypatch):
    settings.LATCH_CLIENT_JWKS_FETCH_TIMEOUT = 2.5
    seen = {}
    original = requests.get

    def spy(url, **kwargs):
        seen.update(kwargs)
        return original(url, **kwargs)

    monkeypatch.setattr(requests, "get", spy)
    client_server.get(JWKS_URI, json=jwks(client_key()))

    assert token_request(application).status_code == 200
    assert seen["timeout"] == 2.5
    assert seen["allow_redirects"] is False
    assert seen["stream"] is True


def test_a_jwks_uri_that_is_not_https_is_never_fetched(client_server, application):
    """clean() refuses one; a row changed around it is refused at the fetch as well."""
    Application.objects.filter(pk=application.pk).update(jwks_uri="http://app.example.org/jwks.json")
    client_server.get("http://app.example.org/jwks.json", json=jwks(client_key()))

    assert token_request(application).status_code == 401
    assert len(client_server.calls) == 0


def test_a_failed_fetch_is_not_repeated_within_the_cooldown(client_server, application):
    client_server.get(JWKS_URI, status=503)

    assert token_request(application).status_code == 401
    assert token_request(application).status_code == 401
    assert fetches(client_server) == 1


def test_an_unknown_kid_fetches_again_once_per_cooldown(client_server, application):
    """The client rotated to a new key: the first assertion by it re-fetches; a flood of made-up
    kids after that costs the client's server nothing."""
    old, new, made_up = client_key(kid="key-1"), client_key("ec", kid="key-2"), client_key("ec", kid="key-3")
    client_server.get(JWKS_URI, json=jwks(old))
    assert token_request(application, old).status_code == 200
    cooldown_passes(application)
    client_server.replace(responses_lib.GET, JWKS_URI, json=jwks(old, new))

    assert token_request(application, new).status_code == 200
    assert fetches(client_server) == 2
    for _ in range(3):
        assert token_request(application, made_up).status_code == 401
    assert fetches(client_server) == 2


def test_an_unknown_kid_right_after_the_first_fetch_does_not_fetch_again(client_server, application):
    client_server.get(JWKS_URI, json=jwks(client_key(kid="key-1")))

    assert token_request(application, client_key("ec", kid="key-9")).status_code == 401
    assert token_request(application, client_key("ec", kid="key-8")).status_code == 401
    assert fetches(client_server) == 1


def test_a_failed_refetch_keeps_the_cached_keys(client_server, application):
    key = client_key(kid="key-1")
    client_server.get(JWKS_URI, json=jwks(key))
    assert token_request(application, key).status_code == 200
    cooldown_passes(application)
    client_server.replace(responses_lib.GET, JWKS_URI, status=500)

    assert token_request(application, client_key("ec", kid="key-2")).status_code == 401
    assert token_request(application, key).status_code == 200
    assert fetches(client_server) == 2


def cooldown_passes(application) -> None:
    """The re-fetch cooldown ends (its cache entry expires), the cached set stays."""
    cache.delete(client_keys._cache_key("cooldown", application.jwks_uri))
