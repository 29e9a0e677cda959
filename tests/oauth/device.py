"""Drive the device authorization grant (RFC 8628) as a device and a member's browser would."""

from django.test import Client

from apps.oauth.models import Application
from tests.oauth.factories import ApplicationFactory
from tests.oauth.flow import app_auth

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_SCOPES = ["openid", "profile", "offline_access", "member-read", "activity-read"]


def device_application(**kwargs) -> Application:
    """A public app allowed the device grant (a TV app, a CLI), registered as admins do."""
    kwargs.setdefault("client_type", Application.CLIENT_PUBLIC)
    kwargs.setdefault("allowed_scopes", list(DEVICE_SCOPES))
    return ApplicationFactory(
        grant_type="device_code", redirect_uris=[], post_logout_redirect_uris=[], **kwargs
    )


def _client_credentials(application) -> tuple[dict[str, str], dict[str, str]]:
    """(body, headers) identifying the app: client_id for a public one, Basic for a confidential one."""
    if application.secret:
        return {}, app_auth(application)
    return {"client_id": application.client_id}, {}


def start(client: Client, application, scope: str | None = None):
    """The device asks for its codes."""
    body, headers = _client_credentials(application)
    if scope is not None:
        body["scope"] = scope
    return client.post("/oauth/device_authorization", body, **headers)


def codes(application, scope: str | None = None) -> dict:
    response = start(Client(), application, scope)
    assert response.status_code == 200, response.content
    return response.json()


def poll(client: Client, application, device_code: str, **extra):
    """The device's token request (RFC 8628 §3.4)."""
    body, headers = _client_credentials(application)
    return client.post(
        "/oauth/token", {"grant_type": DEVICE_GRANT, "device_code": device_code, **body, **extra}, **headers
    )


def enter_code(browser: Client, user_code: str, **request_extra):
    """The member types the code on /oauth/device; a right one answers with the consent page."""
    return browser.post("/oauth/device", {"user_code": user_code}, **request_extra)


def answer(browser: Client, user_code: str, allow: bool):
    """Type the code, then Allow or Deny on the consent page, as the browser would post its form."""
    page = enter_code(browser, user_code)
    assert page.status_code == 200, page.content
    data = {"consent_request": page.context["form"].initial["consent_request"]}
    if allow:
        data["allow"] = "true"
    return browser.post("/oauth/device", data)
