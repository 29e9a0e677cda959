"""The vault hands an app a token for the upstream scopes it declared, not every scope the member granted.

A connection's token carries all the member granted (scope aggregation: apps share one connection).
An app declared for fewer gets a token narrowed by a refresh with `scope` (RFC 6749 §6), checked
against the scopes the provider answers with; where that cannot be done, 403 insufficient_scope,
unless the administrator marked the provider `tokens_may_exceed_scopes`.
"""

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.test import Client
from django.utils import timezone

from apps.upstream.fields import unseal
from apps.upstream.models import Connection, ScopedToken
from tests.api.tokens import issue_token
from tests.conftest import ApiClient
from tests.upstream.factories import ConnectionFactory, RequirementFactory

pytestmark = pytest.mark.django_db

EVERYTHING = ["openid", "calendar.read", "calendar.write"]


@pytest.fixture
def connection(member, provider):
    return ConnectionFactory(
        user=member,
        provider=provider,
        scopes=EVERYTHING,
        access="full-access",
        refresh="full-refresh",
        expires_at=timezone.now() + timedelta(hours=1),
    )


@pytest.fixture
def reader(provider, member):
    """An app that declared calendar.read only."""
    requirement = RequirementFactory(provider=provider, scopes=["calendar.read"])
    return ApiClient(issue_token("connections", user=member, application=requirement.application))


def token_path(provider) -> str:
    return f"/connections/{provider.slug}/token"


def refresh_answer(upstream, provider, **token):
    upstream.post(
        provider.token_endpoint,
        json={"access_token": "narrowed-access", "token_type": "Bearer", "expires_in": 600, **token},
    )


def refresh_requests(upstream, provider) -> list[dict]:
    return [
        parse_qs(str(call.request.body))
        for call in upstream.calls
        if call.request.url == provider.token_endpoint
    ]


def test_an_app_declared_for_one_scope_gets_a_token_narrowed_to_it(reader, provider, connection, upstream):
    refresh_answer(upstream, provider, scope="calendar.read")

    response = reader.post(token_path(provider), {})

    assert response.status_code == 200, response.json()
    assert response.json()["access_token"] == "narrowed-access"
    assert response.json()["scopes"] == ["calendar.read"]
    [sent] = refresh_requests(upstream, provider)
    assert sent["grant_type"] == ["refresh_token"]
    assert sent["refresh_token"] == ["full-refresh"]
    assert sent["scope"] == ["calendar.read"]
    # The narrowed token is handed out, not stored over the connection's own.
    connection.refresh_from_db()
    assert unseal(connection, "access_token") == "full-access"
    assert connection.scopes == EVERYTHING


def test_narrowing_keeps_offline_access_so_the_provider_keeps_issuing_refresh_tokens(
    reader, provider, connection, upstream
):
    Connection.objects.filter(pk=connection.pk).update(scopes=[*EVERYTHING, "offline_access"])
    refresh_answer(upstream, provider, scope="calendar.read offline_access", refresh_token="rotated")

    response = reader.post(token_path(provider), {})

    assert response.json()["scopes"] == ["calendar.read", "offline_access"]
    [sent] = refresh_requests(upstream, provider)
    assert sent["scope"] == ["calendar.read offline_access"]


def test_a_connection_with_only_offline_access_beyond_the_apps_scopes_is_not_narrowed(
    reader, provider, connection, upstream
):
    """offline_access grants no access of its own: a narrowed token would carry it too."""
    Connection.objects.filter(pk=connection.pk).update(scopes=["calendar.read", "offline_access"])

    response = reader.post(token_path(provider), {})

    assert response.json()["access_token"] == "full-access"
    assert response.json()["scopes"] == ["calendar.read", "offline_access"]
    assert not upstream.calls


def test_a_narrowed_token_carrying_offline_access_the_member_did_not_grant_is_refused(
    reader, provider, connection, upstream
):
    refresh_answer(upstream, provider, scope="calendar.read offline_access")

    assert reader.post(token_path(provider), {}).json()["error"] == "insufficient_scope"


def test_a_provider_that_narrows_below_what_was_asked_sends_the_member_to_connect_again(
    provider, member, connection, upstream
):
    requirement = RequirementFactory(provider=provider, scopes=["calendar.read", "calendar.write"])
    api = ApiClient(issue_token("connections", user=member, application=requirement.application))
    refresh_answer(upstream, provider, scope="calendar.read")

    response = api.post(token_path(provider), {})

    assert response.status_code == 409
    assert response.json()["reason"] == "missing_scopes"
    assert not ScopedToken.objects.exists()


def test_the_narrowed_token_is_kept_sealed_and_reused_until_it_expires(
    reader, provider, connection, upstream
):
    refresh_answer(upstream, provider, scope="calendar.read")

    first = reader.post(token_path(provider), {}).json()
    second = reader.post(token_path(provider), {}).json()

    assert first["access_token"] == second["access_token"] == "narrowed-access"
    assert len(refresh_requests(upstream, provider)) == 1
    kept = ScopedToken.objects.get(connection=connection)
    assert "narrowed-access" not in kept.access_token
    assert unseal(kept, "access_token") == "narrowed-access"


def test_an_expiring_narrowed_token_is_narrowed_again(reader, provider, connection, upstream):
    refresh_answer(upstream, provider, scope="calendar.read")
    reader.post(token_path(provider), {})
    ScopedToken.objects.update(
        token_obtained_at=timezone.now() - timedelta(minutes=10),
        expires_at=timezone.now() + timedelta(seconds=5),
    )
    upstream.replace(
        "POST",
        provider.token_endpoint,
        json={"access_token": "narrowed-again", "expires_in": 600, "scope": "calendar.read"},
    )

    response = reader.post(token_path(provider), {})

    assert response.json()["access_token"] == "narrowed-again"
    assert len(refresh_requests(upstream, provider)) == 2


def test_a_provider_that_ignores_the_scope_gets_the_app_insufficient_scope(
    reader, provider, connection, upstream
):
    refresh_answer(upstream, provider, scope="openid calendar.read calendar.write")

    response = reader.post(token_path(provider), {})

    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "insufficient_scope"
    assert body["scope"] == "calendar.read"
    assert body["provider_scope"] == "openid calendar.read calendar.write"
    assert provider.name in body["error_description"]
    assert "narrowed-access" not in response.content.decode()
    assert "full-access" not in response.content.decode()
    assert not ScopedToken.objects.exists()


def test_a_provider_that_does_not_say_which_scopes_it_granted_is_not_trusted_to_have_narrowed(
    reader, provider, connection, upstream
):
    refresh_answer(upstream, provider)  # no `scope`: nothing shows the token is narrower

    response = reader.post(token_path(provider), {})

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert "provider_scope" not in response.json()
    assert not ScopedToken.objects.exists()


def test_a_provider_without_refresh_cannot_narrow_and_the_app_gets_insufficient_scope(
    reader, provider, connection, upstream
):
    provider.grant_types = ["authorization_code"]
    provider.save()

    response = reader.post(token_path(provider), {})

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert response.json()["scope"] == "calendar.read"
    assert not upstream.calls


def test_with_tokens_may_exceed_scopes_the_broader_token_is_handed_out(
    reader, provider, connection, upstream
):
    provider.tokens_may_exceed_scopes = True
    provider.save()
    refresh_answer(upstream, provider, scope="openid calendar.read calendar.write")

    response = reader.post(token_path(provider), {})

    assert response.status_code == 200
    assert response.json()["access_token"] == "narrowed-access"
    assert response.json()["scopes"] == EVERYTHING  # the app is told what the token really carries


def test_with_tokens_may_exceed_scopes_a_provider_without_refresh_hands_out_the_connections_token(
    reader, provider, connection, upstream
):
    provider.tokens_may_exceed_scopes = True
    provider.grant_types = ["authorization_code"]
    provider.save()

    response = reader.post(token_path(provider), {})

    assert response.status_code == 200
    assert response.json()["access_token"] == "full-access"
    assert response.json()["scopes"] == EVERYTHING
    assert not upstream.calls


def test_an_app_declared_for_every_granted_scope_gets_the_connections_token(
    provider, member, connection, upstream
):
    requirement = RequirementFactory(provider=provider, scopes=EVERYTHING)
    api = ApiClient(issue_token("connections", user=member, application=requirement.application))

    response = api.post(token_path(provider), {})

    assert response.json()["access_token"] == "full-access"
    assert not upstream.calls


def test_a_rotated_refresh_token_from_narrowing_replaces_the_connections(
    reader, provider, connection, upstream
):
    """RFC 6749 §6: a new refresh token has the old one's scope, and the old one may be dead now."""
    refresh_answer(upstream, provider, scope="calendar.read", refresh_token="rotated-refresh")

    reader.post(token_path(provider), {})

    connection.refresh_from_db()
    assert unseal(connection, "refresh_token") == "rotated-refresh"
    assert unseal(connection, "access_token") == "full-access"
    # The provider may have revoked the old access token with the old refresh token: refresh it next.
    assert connection.expires_at <= timezone.now()


def test_narrowing_refused_by_the_provider_expires_the_connection(reader, provider, connection, upstream):
    upstream.post(provider.token_endpoint, status=400, json={"error": "invalid_grant"})

    response = reader.post(token_path(provider), {})

    assert response.status_code == 409
    assert response.json()["reason"] == "expired"
    connection.refresh_from_db()
    assert connection.status == Connection.Status.EXPIRED


def test_disconnecting_deletes_the_narrowed_tokens(reader, provider, connection, upstream, member):
    refresh_answer(upstream, provider, scope="calendar.read")
    reader.post(token_path(provider), {})
    upstream.post(provider.revocation_endpoint)
    browser = Client()
    browser.force_login(member)

    browser.post(f"/accounts/connections/{provider.slug}/disconnect")

    assert not ScopedToken.objects.exists()
    revoked = [
        parse_qs(str(call.request.body))["token"][0]
        for call in upstream.calls
        if call.request.url == provider.revocation_endpoint
    ]
    assert "narrowed-access" in revoked


def test_a_rotation_by_the_connections_own_refresh_drops_the_narrowed_tokens(
    reader, provider, connection, upstream, member
):
    """A provider that rotates may revoke every access token of the old refresh token (DOT does):
    a narrowed token kept from before would be handed out dead."""
    refresh_answer(upstream, provider, scope="calendar.read")
    reader.post(token_path(provider), {})
    assert ScopedToken.objects.filter(connection=connection).exists()
    Connection.objects.filter(pk=connection.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    upstream.post(
        provider.token_endpoint,
        json={
            "access_token": "full-access-2",
            "refresh_token": "rotated-refresh",
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": " ".join(EVERYTHING),
        },
    )
    everything = RequirementFactory(provider=provider, scopes=EVERYTHING)
    full_reader = ApiClient(issue_token("connections", user=member, application=everything.application))

    assert full_reader.post(token_path(provider), {}).json()["access_token"] == "full-access-2"

    assert not ScopedToken.objects.filter(connection=connection).exists()
