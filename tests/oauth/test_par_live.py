"""End to end over HTTP: the app is Authlib's OAuth2Session, the member's browser a requests.Session,
Latch pytest-django's live server. The app pushes what Authlib would have put in the URL, sends the
browser with the request_uri only, and redeems the code with Authlib, which checks the state."""

from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings as django_settings
from django.test import Client

from apps.oauth.models import Application
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory

pytestmark = pytest.mark.django_db(transaction=True)


class HiddenInputs(HTMLParser):
    """The consent form's hidden fields, as a browser would post them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value") or ""


@pytest.fixture
def signed_in_browser(member) -> Iterator[requests.Session]:
    """The member's browser, signed in. Closed afterwards: a kept-alive connection would keep a live
    server thread, and its database connection, open past the test."""
    client = Client()
    client.force_login(member)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    with requests.Session() as browser:
        browser.cookies.set(cookie.key, cookie.value)
        yield browser


@pytest.fixture
def over_http(settings):
    """The live server speaks plain http: cookies marked Secure would never come back."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def app_and_authlib() -> Iterator[tuple[Application, OAuth2Session]]:
    app = ApplicationFactory()
    with OAuth2Session(
        app.client_id,
        app.secret,
        scope="openid member-read",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    ) as authlib:
        yield app, authlib


def test_authlib_pushes_the_request_and_redeems_the_code(
    live_server, member, over_http, signed_in_browser, app_and_authlib
):
    app, authlib = app_and_authlib
    browser = signed_in_browser
    verifier = generate_token(48)
    url, state = authlib.create_authorization_url(
        f"{live_server.url}/oauth/authorize", code_verifier=verifier, nonce=generate_token(16)
    )
    parameters = [(name, value) for name, value in parse_qsl(urlparse(url).query) if name != "client_id"]

    pushed = requests.post(
        f"{live_server.url}/oauth/par", data=parameters, auth=(app.client_id, app.secret), timeout=10
    )
    assert pushed.status_code == 201, pushed.text
    authorize = f"{live_server.url}/oauth/authorize?" + urlencode(
        {"client_id": app.client_id, "request_uri": pushed.json()["request_uri"]}
    )
    page = browser.get(authorize, allow_redirects=False)
    assert page.status_code == 200, page.text
    form = HiddenInputs()
    form.feed(page.text)
    answer = browser.post(
        f"{live_server.url}/oauth/authorize",
        data={**form.fields, "allow": "true"},
        headers={"Referer": authorize},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].startswith(REDIRECT_URI + "?")

    token = authlib.fetch_token(
        f"{live_server.url}/oauth/token",
        authorization_response=answer.headers["Location"],
        state=state,
        code_verifier=verifier,
    )
    userinfo = authlib.get(f"{live_server.url}/oauth/userinfo")
    replay = browser.get(authorize, allow_redirects=False)

    assert set(token["scope"].split()) == {"openid", "member-read"}
    assert "id_token" in token
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == str(member.public_id)
    assert replay.status_code == 400


def test_a_wrong_secret_at_the_push_is_invalid_client_over_http(live_server):
    app = ApplicationFactory()

    response = requests.post(
        f"{live_server.url}/oauth/par",
        data={"response_type": "code", "redirect_uri": REDIRECT_URI},
        auth=(app.client_id, "not-the-secret"),
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Latch"'
