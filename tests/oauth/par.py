"""Pushing authorization requests (RFC 9126) and bringing their request_uri to /oauth/authorize."""

from urllib.parse import urlencode

from django.test import Client

from tests.oauth.flow import app_auth, authorize_params

PAR = "/oauth/par"


def push(application, scope: str = "openid member-read", challenge: str | None = None, **extra):
    """The app pushes an authorization request, authenticated as at the token endpoint."""
    data = {
        k: v for k, v in authorize_params(application, scope, challenge, **extra).items() if v is not None
    }
    if application.secret:
        data.pop("client_id")
        return Client().post(PAR, data, **app_auth(application))
    return Client().post(PAR, data)


def request_uri(application, scope: str = "openid member-read", challenge: str | None = None, **extra) -> str:
    response = push(application, scope, challenge, **extra)
    assert response.status_code == 201, response.content
    return response.json()["request_uri"]


def authorize_url(application, uri: str, **extra: str) -> str:
    return "/oauth/authorize?" + urlencode({"client_id": application.client_id, "request_uri": uri, **extra})
