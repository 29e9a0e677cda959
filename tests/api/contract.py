"""The RFC 6750 contract every API endpoint keeps; each app's tests call `assert_scope_guarded`."""

from oauth2_provider.models import revoke_access_token

from apps.oauth.models import AccessToken
from apps.oauth.scopes import SCOPES
from apps.oauth.validators import token_checksum
from tests.api.tokens import issue_token
from tests.conftest import ApiClient


def call(api: ApiClient, method: str, path: str, body: dict | None = None):
    if method == "GET":
        return api.get(path)
    if method == "POST":
        return api.post(path, body)
    if method == "DELETE":
        return api.delete(path)
    raise ValueError(method)


def assert_scope_guarded(method: str, path: str, scope: str, user=None, body: dict | None = None) -> None:
    """No, expired or revoked token: 401 with a Bearer challenge; any scope but `scope`: 403 naming it.

    `user` is the member whose token the endpoint takes (None: an app token).
    """
    response = call(ApiClient(), method, path, body)
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert "error=" not in response["WWW-Authenticate"]

    expired = issue_token(scope, user=user, expires_in=-1)
    response = call(ApiClient(expired), method, path, body)
    assert response.status_code == 401, response.content
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response.json()["error"] == "invalid_token"

    revoked = issue_token(scope, user=user)
    revoke_access_token(AccessToken.objects.get(token_checksum=token_checksum(revoked)))
    response = call(ApiClient(revoked), method, path, body)
    assert response.status_code == 401, response.content
    assert 'error="invalid_token"' in response["WWW-Authenticate"]

    response = call(ApiClient("not-a-token"), method, path, body)
    assert response.status_code == 401, response.content

    every_other_scope = " ".join(name for name in SCOPES if name != scope)
    response = call(ApiClient(issue_token(every_other_scope, user=user)), method, path, body)
    assert response.status_code == 403, response.content
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": f"This request needs an access token with the {scope} scope.",
        "scope": scope,
    }
    assert response["WWW-Authenticate"] == f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'
