"""Drive the OAuth flows through Django's test client, as a real client and browser would."""

import base64
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlparse

from django.test import Client

from apps.accounts.sessions import SIGNED_IN_AT
from tests.oauth.factories import REDIRECT_URI, pkce_pair


def set_signed_in_at(browser: Client, when: datetime) -> None:
    """Date this browser's sign-in (what max_age and the id_token's auth_time read)."""
    session = browser.session
    session[SIGNED_IN_AT] = when.isoformat()
    session.save()


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


def app_auth(application) -> dict[str, str]:
    return basic_auth(application.client_id, application.secret)


def authorize_params(application, scope: str, challenge: str | None, **extra) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": application.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "state-123",
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def consent_page(browser: Client, application, scope: str, challenge: str | None = None, **extra):
    return browser.get(
        "/oauth/authorize?" + urlencode(authorize_params(application, scope, challenge, **extra))
    )


def submit_consent(browser: Client, application, scope: str, challenge: str | None, allow: bool, **extra):
    """Show the consent page, then post its form back (Allow or Deny) as the browser would."""
    page = consent_page(browser, application, scope, challenge, **extra)
    assert page.status_code == 200, page.content
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    if allow:
        data["allow"] = "true"
    return browser.post("/oauth/authorize", data)


def redirect_params(response) -> dict[str, str]:
    assert response.status_code == 302, response.content
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def get_code(browser: Client, application, scope: str, nonce: str | None = None) -> tuple[str, str]:
    """A member allows the app; returns (code, code_verifier)."""
    verifier, challenge = pkce_pair()
    extra = {"nonce": nonce} if nonce else {}
    params = redirect_params(submit_consent(browser, application, scope, challenge, allow=True, **extra))
    return params["code"], verifier


def redeem(client: Client, application, code: str, verifier: str, **overrides):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    data.update(overrides)
    headers = app_auth(application) if application.secret else {}
    if not application.secret:
        data.setdefault("client_id", application.client_id)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post("/oauth/token", data, **headers)


def refresh(client: Client, application, refresh_token: str, **overrides):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **overrides}
    headers = app_auth(application) if application.secret else {}
    if not application.secret:
        data.setdefault("client_id", application.client_id)
    return client.post("/oauth/token", data, **headers)


def client_credentials(client: Client, application, **data):
    return client.post("/oauth/token", {"grant_type": "client_credentials", **data}, **app_auth(application))


def obtain_code(browser: Client, application, scope: str, **extra) -> tuple[str, str]:
    """Like get_code, but the member may have allowed these scopes before: then no page is shown.

    Returns (code, code_verifier) either way.
    """
    verifier, challenge = pkce_pair()
    response = consent_page(browser, application, scope, challenge, **extra)
    if response.status_code == 200:
        data = {k: v for k, v in response.context["form"].initial.items() if v is not None}
        response = browser.post("/oauth/authorize", {**data, "allow": "true"})
    return redirect_params(response)["code"], verifier


def obtain_tokens(member, application, scope: str = "member-read offline_access") -> dict:
    """A member signs in, allows the app (unless they did before) and the app redeems the code."""
    browser = Client()
    browser.force_login(member)
    code, verifier = obtain_code(browser, application, scope)
    response = redeem(Client(), application, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()
