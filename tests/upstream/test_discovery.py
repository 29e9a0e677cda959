"""Discovery (apps/upstream/discovery.py): a checked document fills the endpoints; failure changes nothing."""

import json

import pytest
import requests
from responses import matchers

from apps.upstream.discovery import DiscoveryError, discover, provider_discover
from apps.upstream.models import UpstreamProvider
from tests.upstream.factories import UpstreamProviderFactory

pytestmark = pytest.mark.django_db

ISSUER = "https://login.example.edu/tenant"
URL = f"{ISSUER}/.well-known/openid-configuration"


def configuration(**changes) -> dict:
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        "jwks_uri": f"{ISSUER}/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


@pytest.fixture
def provider():
    """A provider discovered before: its endpoints must survive a failed discovery unchanged."""
    return UpstreamProviderFactory(discovery_url=URL)


def endpoints(provider: UpstreamProvider) -> dict:
    provider.refresh_from_db()
    return {
        name: getattr(provider, name)
        for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "discovered_at")
    }


def test_discovery_fills_in_every_endpoint(upstream, provider):
    upstream.get(URL, json=configuration(), match=[matchers.header_matcher({"Accept": "application/json"})])

    warnings = provider_discover(provider)

    assert warnings == []
    assert provider.issuer == ISSUER
    assert provider.authorization_endpoint == f"{ISSUER}/authorize"
    assert provider.token_endpoint == f"{ISSUER}/token"
    assert provider.revocation_endpoint == f"{ISSUER}/revoke"
    assert provider.userinfo_endpoint == f"{ISSUER}/userinfo"
    assert provider.jwks_uri == f"{ISSUER}/jwks"
    assert provider.discovered_at is not None


def test_optional_endpoints_the_provider_lacks_are_cleared(upstream, provider):
    upstream.get(URL, json=configuration(revocation_endpoint=None, userinfo_endpoint=None))

    provider_discover(provider)

    assert (provider.revocation_endpoint, provider.userinfo_endpoint) == ("", "")


def test_discovery_warns_where_the_provider_disagrees_with_the_configuration(upstream, provider):
    provider.token_endpoint_auth_method = UpstreamProvider.AuthMethod.CLIENT_SECRET_POST
    upstream.get(
        URL,
        json=configuration(
            token_endpoint_auth_methods_supported=["client_secret_basic"],
            code_challenge_methods_supported=["plain"],
            grant_types_supported=["authorization_code"],
        ),
    )

    warnings = provider_discover(provider)

    assert len(warnings) == 3
    assert "lists client authentication client_secret_basic, not client_secret_post" in warnings[0]
    assert "does not list PKCE S256" in warnings[1]
    assert "does not list the refresh_token grant" in warnings[2]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"json": configuration(issuer="https://evil.example.net")},
            "names issuer 'https://evil.example.net'",
        ),
        ({"json": configuration(issuer=f"{ISSUER}/")}, "names issuer 'https://login.example.edu/tenant/'"),
        ({"json": configuration(token_endpoint="http://login.example.edu/token")}, "token_endpoint"),
        (
            {"json": configuration(jwks_uri="http://127.0.0.1/jwks")},
            "jwks_uri (http://127.0.0.1/jwks) is not https",
        ),
        (
            {"json": configuration(userinfo_endpoint="javascript:alert(1)")},
            "userinfo_endpoint is not an http",
        ),
        ({"json": configuration(token_endpoint=None)}, '"token_endpoint" is required'),
        ({"json": configuration(jwks_uri=None)}, '"jwks_uri" is required'),
        (
            {"json": configuration(id_token_signing_alg_values_supported=["HS256"])},
            '"RS256" MUST be included',
        ),
        ({"json": configuration(subject_types_supported=None)}, '"subject_types_supported" is required'),
        ({"status": 500, "json": {"error": "oops"}}, "answered HTTP 500, not the configuration"),
        ({"status": 404, "body": "not found"}, "answered HTTP 404"),
        ({"body": "<html>sign in</html>"}, "did not answer with JSON"),
        ({"body": "[1, 2]", "content_type": "application/json"}, "did not answer with a JSON object"),
        ({"body": "x" * (600 * 1024)}, "answered more than 512 KiB"),
        (
            {"status": 302, "headers": {"Location": "https://elsewhere.example/conf"}},
            "redirects to https://elsewhere",
        ),
        ({"body": requests.Timeout()}, "did not answer within 10 seconds"),
        ({"body": requests.ConnectionError("refused")}, "could not be reached (ConnectionError)"),
        ({"body": requests.exceptions.SSLError("bad certificate")}, "could not be reached (SSLError)"),
    ],
    ids=[
        "other-issuer",
        "issuer-with-slash",
        "http-endpoint",
        "http-loopback-jwks",
        "not-a-url",
        "no-token-endpoint",
        "no-jwks",
        "no-rs256",
        "no-subject-types",
        "http-500",
        "http-404",
        "html",
        "json-array",
        "too-large",
        "redirect",
        "timeout",
        "unreachable",
        "tls-failure",
    ],
)
def test_a_failed_discovery_says_why_and_changes_nothing(upstream, provider, answer, message):
    before = endpoints(provider)
    upstream.get(URL, **answer)

    with pytest.raises(DiscoveryError) as error:
        provider_discover(provider)

    assert message in str(error.value)
    assert endpoints(provider) == before


def test_plain_http_is_allowed_in_development(upstream, settings):
    settings.LATCH_UPSTREAM_ALLOW_HTTP = True
    issuer = "http://upstream.test:8001"
    upstream.get(
        f"{issuer}/.well-known/openid-configuration",
        json=configuration(
            issuer=issuer,
            authorization_endpoint=f"{issuer}/oauth/authorize",
            token_endpoint=f"{issuer}/oauth/token",
            jwks_uri=f"{issuer}/oauth/jwks",
        ),
    )

    discovered = discover(f"{issuer}/.well-known/openid-configuration")

    assert discovered.token_endpoint == f"{issuer}/oauth/token"


def test_an_http_discovery_url_is_refused_before_any_request(upstream):
    with pytest.raises(DiscoveryError, match="is not https"):
        discover("http://login.example.edu/.well-known/openid-configuration")
    assert len(upstream.calls) == 0


def test_a_discovery_url_off_the_standard_path_needs_the_issuer(upstream):
    url = "https://login.example.edu/tenant/v2.0/config"
    upstream.get(url, json=configuration())

    with pytest.raises(DiscoveryError, match="give the provider's issuer as well"):
        discover(url)
    assert discover(url, issuer=ISSUER).issuer == ISSUER
    with pytest.raises(DiscoveryError, match="names issuer"):
        discover(url, issuer="https://login.example.edu/other")


def test_discovery_waits_only_as_long_as_the_timeout(upstream, settings):
    settings.LATCH_UPSTREAM_TIMEOUT = 2.5
    upstream.get(URL, body=requests.Timeout())

    with pytest.raises(DiscoveryError, match=r"within 2\.5 seconds"):
        discover(URL)
    assert upstream.calls[0].request.req_kwargs["timeout"] == 2.5


def test_the_document_is_parsed_as_json_whatever_its_content_type(upstream):
    upstream.get(URL, body=json.dumps(configuration()), content_type="text/plain")

    assert discover(URL).jwks_uri == f"{ISSUER}/jwks"
