"""Drive token exchange (RFC 8693) as a service holding a member's token would."""

from django.test import Client

from apps.oauth.models import AccessToken, Application, TokenExchangePolicy
from apps.oauth.validators import token_checksum
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, service_application

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
# Latch's own member API as Django's test client reaches it (DOT matches a token's audience as a
# URL prefix of the request's URL), and an API elsewhere that Latch's API must refuse tokens for.
LATCH_API = "http://testserver/api/v1"
FILES_API = "https://files.example.org"
# What the exchanging service itself serves: members' tokens issued for it may be exchanged by it.
SERVICE_API = "https://service.example.org/api"
SERVICE_SCOPES = ["member-read", "activity-read", "checkout-read"]


def exchanging_service(**policy) -> Application:
    """A confidential service (client credentials) with a policy, as an administrator sets it up."""
    app = service_application(allowed_scopes=list(SERVICE_SCOPES))
    subject_clients = policy.pop("subject_clients", ())
    policy.setdefault("audiences", [LATCH_API, FILES_API, "kiosk"])
    policy.setdefault("scopes", list(SERVICE_SCOPES))
    policy.setdefault("served_audiences", [SERVICE_API])
    created = TokenExchangePolicy.objects.create(client=app, **policy)
    created.subject_clients.set(subject_clients)
    return app


def member_token(member, app: Application | None = None, scope: str = "member-read activity-read") -> dict:
    """A member's token response from the authorization code flow (a fresh front end by default)."""
    return flow.obtain_tokens(member, app or ApplicationFactory(), scope)


def exchange(service: Application, subject_token: str | None, client: Client | None = None, **params):
    """POST the exchange; `resource` / `audience` may be lists (repeated parameters). Without
    either, `resource` is Latch's API; `resource=None` sends none. A parameter set to None is
    not sent."""
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        **params,
    }
    if "resource" not in params and "audience" not in params:
        data["resource"] = LATCH_API
    data = {name: value for name, value in data.items() if value is not None}
    headers = flow.app_auth(service) if service.secret else {}
    return (client or Client()).post("/oauth/token", data, **headers)


def stored(value: str) -> AccessToken:
    return AccessToken.objects.get(token_checksum=token_checksum(value))


def assert_refused(response, error: str, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error, body
    return body
