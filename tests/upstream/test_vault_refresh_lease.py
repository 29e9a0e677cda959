"""The vault's refresh holds no transaction or row lock while the provider answers (up to its timeout).

A request claims the refresh with a lease (`Connection.refreshing_until`, compare-and-swap), calls
the provider outside any transaction, and writes the answer back only if it still holds the lease
and the connection is still active. Real transactions here: pytest-django's usual test transaction
would hide whether one is open.
"""

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from apps.upstream import services
from apps.upstream.fields import unseal
from apps.upstream.models import Connection, ScopedToken
from tests.api.tokens import issue_token
from tests.conftest import ApiClient
from tests.upstream.factories import ConnectionFactory, RequirementFactory

pytestmark = pytest.mark.django_db(transaction=True)

RENEWED = '{"access_token": "renewed", "refresh_token": "renewed-refresh", "expires_in": 3600}'


@pytest.fixture
def requirement(provider):
    return RequirementFactory(provider=provider, scopes=["calendar.read"])


@pytest.fixture
def api(member, requirement):
    return ApiClient(issue_token("connections", user=member, application=requirement.application))


def expiring(member, provider, **kwargs) -> Connection:
    kwargs.setdefault("scopes", ["calendar.read"])
    return ConnectionFactory(
        user=member, provider=provider, expires_at=timezone.now() + timedelta(seconds=20), **kwargs
    )


def token_path(provider) -> str:
    return f"/connections/{provider.slug}/token"


def test_no_transaction_is_open_while_the_provider_refreshes(api, member, provider, upstream):
    expiring(member, provider)
    seen: list[bool] = []

    def refresh(request):
        seen.append(db_connection.in_atomic_block)
        return 200, {}, RENEWED

    upstream.add_callback("POST", provider.token_endpoint, callback=refresh)

    response = api.post(token_path(provider), {})

    assert response.json()["access_token"] == "renewed"
    assert seen == [False]


def test_no_transaction_is_open_while_the_provider_narrows(api, member, provider, upstream):
    ConnectionFactory(user=member, provider=provider, scopes=["openid", "calendar.read"])
    seen: list[bool] = []

    def narrow(request):
        seen.append(db_connection.in_atomic_block)
        return 200, {}, '{"access_token": "narrowed", "expires_in": 600, "scope": "calendar.read"}'

    upstream.add_callback("POST", provider.token_endpoint, callback=narrow)

    response = api.post(token_path(provider), {})

    assert response.json()["access_token"] == "narrowed"
    assert seen == [False]


def test_a_refresh_racing_a_disconnect_does_not_resurrect_the_connection(api, member, provider, upstream):
    connection = expiring(member, provider)
    upstream.post(provider.revocation_endpoint)

    def member_disconnects_meanwhile(request):
        services.connection_revoke(connection=connection, actor=services.Actor(user=member))
        return 200, {}, RENEWED

    upstream.add_callback("POST", provider.token_endpoint, callback=member_disconnects_meanwhile)

    response = api.post(token_path(provider), {})

    assert response.status_code == 409
    assert response.json()["reason"] == "revoked"
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REVOKED
    assert connection.access_token == connection.refresh_token == ""
    # The tokens the provider issued meanwhile are not kept, and revoked there too.
    revoked = [
        parse_qs(str(call.request.body))["token"][0]
        for call in upstream.calls
        if call.request.url == provider.revocation_endpoint
    ]
    assert {"renewed", "renewed-refresh"} <= set(revoked)


def test_a_narrowing_racing_a_disconnect_keeps_no_narrowed_token(api, member, provider, upstream):
    connection = ConnectionFactory(user=member, provider=provider, scopes=["openid", "calendar.read"])
    revoked: list[tuple[str, bool]] = []

    def revoke(request):
        revoked.append((parse_qs(str(request.body))["token"][0], db_connection.in_atomic_block))
        return 200, {}, ""

    upstream.add_callback("POST", provider.revocation_endpoint, callback=revoke)

    def member_disconnects_meanwhile(request):
        services.connection_revoke(connection=connection, actor=services.Actor(user=member))
        return 200, {}, '{"access_token": "narrowed", "expires_in": 600, "scope": "calendar.read"}'

    upstream.add_callback("POST", provider.token_endpoint, callback=member_disconnects_meanwhile)

    response = api.post(token_path(provider), {})

    assert response.status_code == 409
    assert response.json()["reason"] == "revoked"
    assert not ScopedToken.objects.exists()
    # The narrowed token issued meanwhile is revoked too, with no transaction open.
    assert ("narrowed", False) in revoked
    assert not [token for token, in_transaction in revoked if in_transaction]


def test_a_lease_left_by_a_crashed_refresh_expires(api, member, provider, upstream):
    connection = expiring(member, provider)
    Connection.objects.filter(pk=connection.pk).update(refreshing_until=timezone.now() - timedelta(seconds=1))
    upstream.post(provider.token_endpoint, body=RENEWED)

    response = api.post(token_path(provider), {})

    assert response.json()["access_token"] == "renewed"
    connection.refresh_from_db()
    assert connection.refreshing_until is None
    assert unseal(connection, "refresh_token") == "renewed-refresh"


def test_while_another_request_refreshes_the_still_valid_token_is_handed_out(
    api, member, provider, upstream, monkeypatch
):
    monkeypatch.setattr(services, "REFRESH_WAIT_SECONDS", 0.3)
    connection = expiring(member, provider, access="still-valid")
    Connection.objects.filter(pk=connection.pk).update(refreshing_until=timezone.now() + timedelta(minutes=1))

    response = api.post(token_path(provider), {})

    assert response.status_code == 200
    assert response.json()["access_token"] == "still-valid"
    assert not upstream.calls


def test_while_another_request_refreshes_an_expired_token_is_temporarily_unavailable(
    api, member, provider, upstream, monkeypatch
):
    monkeypatch.setattr(services, "REFRESH_WAIT_SECONDS", 0.3)
    connection = expiring(member, provider)
    Connection.objects.filter(pk=connection.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1),
        refreshing_until=timezone.now() + timedelta(minutes=1),
    )

    response = api.post(token_path(provider), {})

    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert not upstream.calls


def test_a_failed_refresh_releases_the_lease(api, member, provider, upstream):
    connection = expiring(member, provider)
    upstream.post(provider.token_endpoint, status=503)

    assert api.post(token_path(provider), {}).status_code == 503

    connection.refresh_from_db()
    assert connection.refreshing_until is None
