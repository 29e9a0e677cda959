"""RFC 8252 §8.6: a public client whose redirect URI any program on the device can receive (a
loopback address, on any port, or a private-use URI scheme) cannot prove it is the app it names, so
the member sees the consent page every time. Remembered consent and skip_authorization apply to
confidential clients and to public clients on claimed https redirect URIs."""

from urllib.parse import parse_qs, urlparse

import pytest

from apps.oauth import consent
from apps.oauth.models import Application, Grant
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, pkce_pair, public_application

pytestmark = pytest.mark.django_db

# (registered redirect URI, the one the request uses: loopback ports are chosen at run time)
DEVICE_REDIRECTS = [
    ("http://127.0.0.1/callback", "http://127.0.0.1:53124/callback"),
    ("http://[::1]/callback", "http://[::1]:61001/callback"),
    ("http://localhost/callback", "http://localhost/callback"),
    ("https://localhost/callback", "https://localhost/callback"),
    ("https://127.0.0.1/callback", "https://127.0.0.1/callback"),
    ("com.example.app:/callback", "com.example.app:/callback"),
]
CLAIMED_REDIRECT = "https://app.example.org/callback"


@pytest.fixture(autouse=True)
def _device_redirect_schemes(settings):
    """Plain http (loopback) and a private-use scheme, as a deployment for native apps allows them."""
    schemes = ["http", "https", "com.example.app"]
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": schemes}


def authorize(browser, application, redirect_uri: str, **extra):
    return flow.consent_page(
        browser, application, "openid offline_access", pkce_pair()[1], redirect_uri=redirect_uri, **extra
    )


def allow(browser, application, redirect_uri: str):
    page = authorize(browser, application, redirect_uri)
    assert page.status_code == 200, page.content
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    response = browser.post("/oauth/authorize", {**data, "allow": "true"})
    assert response.status_code == 302
    assert "code" in parse_qs(urlparse(response["Location"]).query)


def assert_consent_page_asking_every_time(response) -> None:
    assert response.status_code == 200, response.get("Location")
    assert response.templates[0].name == "oauth/authorize.html"
    assert response.context["asks_every_time"] is True
    assert "asks every time" in response.content.decode()


@pytest.mark.parametrize(("registered", "requested"), DEVICE_REDIRECTS)
def test_a_public_client_on_a_device_redirect_gets_no_code_without_the_page(
    browser, member, registered, requested
):
    application = public_application(redirect_uris=[registered])
    allow(browser, application, requested)
    assert consent.missing_scopes(member, application, ["openid", "offline_access"]) == []

    response = authorize(browser, application, requested)

    assert_consent_page_asking_every_time(response)
    assert Grant.objects.count() == 1  # only the one the member allowed on the page


@pytest.mark.parametrize(("registered", "requested"), DEVICE_REDIRECTS[:1] + DEVICE_REDIRECTS[-1:])
def test_prompt_none_for_a_public_client_on_a_device_redirect_is_consent_required(
    browser, registered, requested
):
    application = public_application(redirect_uris=[registered])
    allow(browser, application, requested)

    response = authorize(browser, application, requested, prompt="none")

    assert response.status_code == 302
    location = urlparse(response["Location"])
    params = parse_qs(location.query)
    assert params["error"] == ["consent_required"]
    assert params["state"] == ["state-123"]
    assert "code" not in params
    assert Grant.objects.count() == 1


@pytest.mark.parametrize(("registered", "requested"), DEVICE_REDIRECTS[:1] + DEVICE_REDIRECTS[-1:])
def test_skip_authorization_does_not_skip_the_page_for_a_public_client_on_a_device_redirect(
    browser, registered, requested
):
    application = public_application(redirect_uris=[registered])
    Application.objects.filter(pk=application.pk).update(skip_authorization=True)

    assert_consent_page_asking_every_time(authorize(browser, application, requested))
    silent = authorize(browser, application, requested, prompt="none")
    assert parse_qs(urlparse(silent["Location"]).query)["error"] == ["consent_required"]
    assert not Grant.objects.exists()


def test_a_public_client_on_a_claimed_https_redirect_keeps_remembered_consent(browser):
    application = public_application(redirect_uris=[CLAIMED_REDIRECT])
    allow(browser, application, CLAIMED_REDIRECT)

    response = authorize(browser, application, CLAIMED_REDIRECT)

    assert "code" in flow.redirect_params(response)


@pytest.mark.parametrize(("registered", "requested"), DEVICE_REDIRECTS[:1] + DEVICE_REDIRECTS[-1:])
def test_a_confidential_client_on_a_device_redirect_keeps_remembered_consent(browser, registered, requested):
    application = ApplicationFactory(redirect_uris=[registered])
    allow(browser, application, requested)

    response = authorize(browser, application, requested)

    assert response.status_code == 302
    assert "code" in parse_qs(urlparse(response["Location"]).query)


def test_the_page_for_an_app_on_a_claimed_redirect_does_not_say_it_asks_every_time(browser):
    application = ApplicationFactory(redirect_uris=[CLAIMED_REDIRECT])

    page = authorize(browser, application, CLAIMED_REDIRECT)

    assert page.context["asks_every_time"] is False
    assert "asks every time" not in page.content.decode()
