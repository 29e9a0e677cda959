"""Initial access tokens as an administrator issues them, and registrations as a client makes them."""

import json
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from apps.registration import services
from apps.registration.models import InitialAccessToken

REDIRECT_URI = "https://app.example.org/callback"
CEILING = ["openid", "profile", "offline_access", "member-read", "activity-read", "group-read"]


def initial_token(
    scopes: list[str] | None = None, *, uses: int = 1, expires_in: timedelta = timedelta(days=7), **fields
) -> str:
    """A new initial access token's value (the row is InitialAccessToken.objects.get(token=value))."""
    token = InitialAccessToken(
        scopes=list(CEILING if scopes is None else scopes),
        max_uses=uses,
        expires=timezone.now() + expires_in,
        **fields,
    )
    return services.initial_token_issue(token, actor_label="tests")


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def code_client_metadata(**overrides) -> dict:
    metadata = {
        "client_name": "Planner",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid member-read offline_access",
    }
    metadata.update(overrides)
    return {name: value for name, value in metadata.items() if value is not ...}


def register(token: str | None, metadata: dict | list | str | bytes, client: Client | None = None, **headers):
    """POST /oauth/register as a client library would: JSON, the token as Bearer."""
    body = metadata if isinstance(metadata, str | bytes) else json.dumps(metadata)
    auth = bearer(token) if token is not None else {}
    return (client or Client()).post(
        "/oauth/register", body, content_type="application/json", **{**auth, **headers}
    )


def manage(method: str, registered: dict, token: str | None = None, body: dict | None = None, client_id=None):
    """GET / PUT / DELETE the client's registration_client_uri with its registration access token."""
    path = f"/oauth/register/{client_id or registered['client_id']}"
    auth = bearer(registered["registration_access_token"] if token is None else token)
    if method == "put":
        return Client().put(path, json.dumps(body), content_type="application/json", **auth)
    return getattr(Client(), method)(path, **auth)
