"""The device grant as a real client library drives it: Authlib's OAuth2Session over HTTP.

Against pytest-django's live server: the device speaks HTTP with requests and Authlib, the
member answers in a browser session (Django's test client, on the same database).
"""

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.test import Client

from apps.oauth.models import AccessToken
from tests.accounts.factories import UserFactory
from tests.oauth import device

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tv():
    return device.device_application(name="Living-room TV")


@pytest.fixture
def member_browser():
    browser = Client()
    browser.force_login(UserFactory(first_name="Ada", last_name="Lovelace"))
    return browser


def session_for(application) -> OAuth2Session:
    """A public client: Authlib sends its client_id in the body (token_endpoint_auth_method none)."""
    return OAuth2Session(application.client_id, token_endpoint_auth_method="none")


def discovered(live_server) -> dict:
    metadata = requests.get(f"{live_server.url}/.well-known/oauth-authorization-server", timeout=10).json()
    # The issuer is the configured one (https://testserver); the live server is where it runs.
    return {
        name: metadata[name].replace(metadata["issuer"], live_server.url)
        for name in ("device_authorization_endpoint", "token_endpoint")
    }


def start(live_server, session: OAuth2Session, scope: str) -> dict:
    endpoints = discovered(live_server)
    response = session.post(
        endpoints["device_authorization_endpoint"],
        data={"client_id": session.client_id, "scope": scope},
        withhold_token=True,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def poll(live_server, session: OAuth2Session, device_code: str) -> dict:
    return session.fetch_token(
        discovered(live_server)["token_endpoint"], grant_type=device.DEVICE_GRANT, device_code=device_code
    )


def test_authlib_polls_until_the_member_allows_then_gets_working_tokens(live_server, tv, member_browser):
    session = session_for(tv)
    issued = start(live_server, session, "openid profile member-read offline_access")

    with pytest.raises(OAuthError) as pending:
        poll(live_server, session, issued["device_code"])
    assert pending.value.error == "authorization_pending"
    device.answer(member_browser, issued["user_code"], allow=True)
    token = poll(live_server, session, issued["device_code"])

    assert token["scope"] == "openid profile member-read offline_access"
    assert {"access_token", "refresh_token", "id_token"} <= set(token)
    userinfo = session.get(f"{live_server.url}/oauth/userinfo", timeout=10)
    assert userinfo.status_code == 200
    assert userinfo.json()["name"] == "Ada Lovelace"
    refreshed = session.refresh_token(discovered(live_server)["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]


def test_authlib_is_told_to_slow_down_when_polling_too_fast(live_server, tv):
    session = session_for(tv)
    issued = start(live_server, session, "member-read")

    errors = []
    for _ in range(2):
        with pytest.raises(OAuthError) as refused:
            poll(live_server, session, issued["device_code"])
        errors.append(refused.value.error)

    assert errors == ["authorization_pending", "slow_down"]


def test_authlib_gets_access_denied_when_the_member_denies(live_server, tv, member_browser):
    session = session_for(tv)
    issued = start(live_server, session, "member-read")
    device.answer(member_browser, issued["user_code"], allow=False)

    with pytest.raises(OAuthError) as denied:
        poll(live_server, session, issued["device_code"])

    assert denied.value.error == "access_denied"
    assert not AccessToken.objects.exists()


def test_a_device_code_reused_after_its_tokens_is_refused(live_server, tv, member_browser):
    session = session_for(tv)
    issued = start(live_server, session, "member-read")
    device.answer(member_browser, issued["user_code"], allow=True)
    poll(live_server, session, issued["device_code"])

    with pytest.raises(OAuthError) as reused:
        poll(live_server, session, issued["device_code"])

    assert reused.value.error == "invalid_grant"
    assert AccessToken.objects.count() == 1


def test_another_app_cannot_use_the_device_code(live_server, tv, member_browser):
    issued = start(live_server, session_for(tv), "member-read")
    device.answer(member_browser, issued["user_code"], allow=True)

    with pytest.raises(OAuthError) as refused:
        poll(live_server, session_for(device.device_application()), issued["device_code"])

    assert refused.value.error == "invalid_grant"
