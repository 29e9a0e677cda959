"""Latch's Authlib client towards a provider: each client authentication mode as it goes on the wire."""

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from apps.upstream import client
from apps.upstream.models import UpstreamProvider
from tests.upstream.factories import UpstreamProviderFactory

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t:with/odd+chars"
Method = UpstreamProvider.AuthMethod


def sent(call) -> tuple[dict, dict, dict]:
    """(query, form body, headers) of a recorded request."""
    request = call.request
    body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
    return parse_qs(urlsplit(request.url).query), parse_qs(body), dict(request.headers)


def basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: each part form-encoded before Basic; Authlib sends them as they are, which is
    # what most providers expect (and what Latch's own token endpoint accepts).
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.parametrize("operation", ["refresh", "revoke"])
@pytest.mark.parametrize("method", list(Method))
def test_each_client_authentication_mode_on_the_wire(upstream, method, operation):
    provider = UpstreamProviderFactory(token_endpoint_auth_method=method, secret=SECRET)
    upstream.post(
        provider.token_endpoint, json={"access_token": "new", "token_type": "Bearer", "expires_in": 60}
    )
    upstream.post(provider.revocation_endpoint)

    with client.provider_session(provider) as session:
        if operation == "refresh":
            token = session.refresh_token(refresh_token="r-1")
            assert token["access_token"] == "new"
        else:
            client.revoke_token(provider, token="r-1", token_type_hint="refresh_token")

    query, body, headers = sent(upstream.calls[0])
    assert body["refresh_token" if operation == "refresh" else "token"] == ["r-1"]
    if method == Method.CLIENT_SECRET_BASIC:
        assert headers["Authorization"] == basic(provider.client_id, SECRET)
        assert "client_secret" not in body
        assert not query
    elif method == Method.CLIENT_SECRET_POST:
        assert "Authorization" not in headers
        assert body["client_id"] == [provider.client_id]
        assert body["client_secret"] == [SECRET]
        assert not query
    else:
        assert "Authorization" not in headers
        assert "client_secret" not in body
        assert query == {"client_id": [provider.client_id], "client_secret": [SECRET]}


def test_requests_give_up_after_the_timeout(upstream, settings):
    settings.LATCH_UPSTREAM_TIMEOUT = 3
    provider = UpstreamProviderFactory()
    upstream.post(provider.revocation_endpoint, body=requests.Timeout())

    with pytest.raises(client.UpstreamError, match="did not answer within 3 seconds"):
        client.revoke_token(provider, token="t", token_type_hint="access_token")
    assert upstream.calls[0].request.req_kwargs["timeout"] == 3


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"status": 503}, "answered HTTP 503 to the revocation"),
        ({"status": 400, "json": {"error": "unsupported_token_type"}}, "answered HTTP 400"),
        ({"body": requests.ConnectionError()}, "could not be reached (ConnectionError)"),
    ],
)
def test_a_failed_revocation_is_an_upstream_error(upstream, answer, message):
    provider = UpstreamProviderFactory()
    upstream.post(provider.revocation_endpoint, **answer)

    with pytest.raises(client.UpstreamError, match=message.replace("(", r"\(").replace(")", r"\)")):
        client.revoke_token(provider, token="t", token_type_hint="access_token")


def test_revocation_needs_an_endpoint():
    provider = UpstreamProviderFactory(revocation_endpoint="")

    with pytest.raises(client.UpstreamError, match="has no revocation endpoint"):
        client.revoke_token(provider, token="t", token_type_hint="access_token")


def test_pkce_follows_the_provider_setting():
    assert client.provider_session(UpstreamProviderFactory()).code_challenge_method == "S256"
    assert client.provider_session(UpstreamProviderFactory(use_pkce=False)).code_challenge_method is None
