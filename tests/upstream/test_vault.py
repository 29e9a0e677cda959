"""POST /api/v1/connections/{provider}/token: the member's upstream token for an app, refreshed when due."""

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.upstream.fields import unseal
from apps.upstream.models import ApplicationUpstreamRequirement, Connection
from tests.accounts.factories import UserFactory
from tests.api.tokens import issue_token
from tests.conftest import ApiClient
from tests.oauth.factories import ApplicationFactory
from tests.upstream.factories import ConnectionFactory, RequirementFactory

pytestmark = pytest.mark.django_db

OnMissing = ApplicationUpstreamRequirement.OnMissing


@pytest.fixture
def application():
    return ApplicationFactory()


@pytest.fixture
def requirement(application, provider):
    return RequirementFactory(
        application=application, provider=provider, scopes=["calendar.read", "calendar.write"]
    )


@pytest.fixture
def api(member, application, requirement):
    return ApiClient(issue_token("openid connections", user=member, application=application))


def fresh(member, provider, **kwargs) -> Connection:
    """A connection whose token carries exactly calendar.read (what most tests ask for): no narrowing."""
    kwargs.setdefault("expires_at", timezone.now() + timedelta(hours=1))
    kwargs.setdefault("scopes", ["calendar.read"])
    return ConnectionFactory(user=member, provider=provider, **kwargs)


def token_path(provider) -> str:
    return f"/connections/{provider.slug}/token"


def form_of(call) -> dict:
    return parse_qs(str(call.request.body))


# --- Success --------------------------------------------------------------------------------------


def test_an_app_gets_the_members_access_token_and_never_the_refresh_token(api, member, provider, upstream):
    connection = fresh(member, provider)

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "access_token": connection.access,
        "token_type": "Bearer",
        "expires_at": body["expires_at"],
        "scopes": ["calendar.read"],
    }
    assert body["expires_at"].startswith(str(connection.expires_at.year))
    assert connection.refresh not in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert not upstream.calls
    connection.refresh_from_db()
    assert connection.last_used_at is not None


def test_no_scopes_means_every_scope_the_app_declared(api, member, provider):
    fresh(member, provider, scopes=["calendar.read", "calendar.write"])

    assert api.post(token_path(provider), {}).status_code == 200


# --- What the app may ask -------------------------------------------------------------------------


def test_scopes_beyond_the_requirement_are_refused(api, member, provider):
    fresh(member, provider, scopes=["openid", "calendar.read", "admin"])

    response = api.post(token_path(provider), {"scopes": ["calendar.read", "admin"]})

    assert response.status_code == 403
    assert response.json()["error"] == "invalid_scope"
    assert "admin" in response.json()["error_description"]


def test_an_app_without_a_requirement_for_the_provider_is_refused(member, provider):
    fresh(member, provider)
    api = ApiClient(issue_token("connections", user=member))

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def test_an_unknown_or_disabled_provider_is_not_found(api, member, provider):
    fresh(member, provider)
    assert api.post("/connections/nope/token", {}).status_code == 404

    provider.enabled = False
    provider.save()

    assert api.post(token_path(provider), {}).status_code == 404


def test_the_connections_scope_is_required(member, application, requirement, provider):
    fresh(member, provider)
    api = ApiClient(issue_token("openid", user=member, application=application))

    response = api.post(token_path(provider), {})

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_an_apps_own_token_is_refused(provider):
    api = ApiClient(issue_token("connections"))

    response = api.post(token_path(provider), {})

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_user_authentication"


def test_no_token_is_401(provider):
    assert ApiClient().post(token_path(provider), {}).status_code == 401


def test_a_malformed_body_is_invalid_request(api, provider):
    response = api.post(token_path(provider), {"scopes": "calendar.read"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- Not connected: what the requirement says -----------------------------------------------------


def test_prompt_connect_answers_409_with_a_connect_url(api, provider):
    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 409
    assert response.json() == {
        "error": "not_connected",
        "error_description": f"The member has not connected {provider.name}.",
        "reason": "not_connected",
        "connect_url": f"http://testserver/accounts/connections/{provider.slug}/connect?scope=calendar.read",
    }


def test_ignore_answers_not_connected_without_a_url(api, provider, requirement):
    requirement.on_missing = OnMissing.IGNORE
    requirement.save()

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 409
    assert response.json()["error"] == "not_connected"
    assert "connect_url" not in response.json()


def test_error_answers_403(api, provider, requirement):
    requirement.on_missing = OnMissing.ERROR
    requirement.save()

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
    assert response.json()["reason"] == "not_connected"


def test_missing_scopes_ask_the_member_for_them(api, member, provider):
    fresh(member, provider, scopes=["openid", "calendar.read"])

    response = api.post(token_path(provider), {"scopes": ["calendar.read", "calendar.write"]})

    assert response.status_code == 409
    assert response.json()["reason"] == "missing_scopes"
    assert response.json()["connect_url"].endswith("connect?scope=calendar.read+calendar.write")


@pytest.mark.parametrize("status", ["expired", "revoked"])
def test_a_connection_that_is_not_active_asks_to_connect_again(api, member, provider, status):
    connection = fresh(member, provider)
    Connection.objects.filter(pk=connection.pk).update(status=status, access_token="", refresh_token="")

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 409
    assert response.json()["reason"] == status


def test_another_members_connection_is_not_used(api, provider):
    fresh(UserFactory(), provider)

    assert api.post(token_path(provider), {"scopes": ["calendar.read"]}).json()["reason"] == "not_connected"


# --- Refreshing -----------------------------------------------------------------------------------


def expiring(member, provider, **kwargs) -> Connection:
    return fresh(member, provider, expires_at=timezone.now() + timedelta(seconds=30), **kwargs)


def test_a_token_about_to_expire_is_refreshed_first(api, member, provider, upstream):
    connection = expiring(member, provider, refresh="the-refresh")
    upstream.post(
        provider.token_endpoint, json={"access_token": "renewed", "token_type": "Bearer", "expires_in": 3600}
    )

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 200
    assert response.json()["access_token"] == "renewed"
    sent = form_of(upstream.calls[0])
    assert sent["grant_type"] == ["refresh_token"]
    assert sent["refresh_token"] == ["the-refresh"]
    assert upstream.calls[0].request.headers["Authorization"].startswith("Basic ")
    connection.refresh_from_db()
    assert unseal(connection, "access_token") == "renewed"
    # The provider sent no new refresh token: the old one stays valid (RFC 6749 §6).
    assert unseal(connection, "refresh_token") == "the-refresh"
    assert connection.last_refreshed_at is not None
    assert connection.expires_at > timezone.now() + timedelta(minutes=59)
    assert "the-refresh" not in response.content.decode()


def test_a_short_lived_token_is_not_refreshed_in_the_first_half_of_its_life(api, member, provider, upstream):
    """A 40-second token just obtained: refreshing it 60 s early would refresh on every request."""
    now = timezone.now()
    fresh(
        member, provider, access="short-lived", token_obtained_at=now, expires_at=now + timedelta(seconds=40)
    )

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.json()["access_token"] == "short-lived"
    assert len(upstream.calls) == 0


def test_a_short_lived_token_is_refreshed_in_the_second_half_of_its_life(api, member, provider, upstream):
    now = timezone.now()
    connection = fresh(
        member,
        provider,
        refresh="the-refresh",
        token_obtained_at=now - timedelta(seconds=25),
        expires_at=now + timedelta(seconds=15),
    )
    upstream.post(
        provider.token_endpoint, json={"access_token": "renewed", "token_type": "Bearer", "expires_in": 40}
    )

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.json()["access_token"] == "renewed"
    connection.refresh_from_db()
    assert connection.token_obtained_at > now
    assert connection.expires_at > now + timedelta(seconds=35)


def test_a_new_refresh_token_replaces_the_old(api, member, provider, upstream):
    connection = expiring(member, provider, refresh="old")
    upstream.post(
        provider.token_endpoint,
        json={
            "access_token": "renewed",
            "refresh_token": "rotated",
            "expires_in": 3600,
            "token_type": "Bearer",
        },
    )

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    connection.refresh_from_db()
    assert unseal(connection, "refresh_token") == "rotated"
    assert "rotated" not in response.content.decode()


def test_a_refused_refresh_expires_the_connection(api, member, provider, upstream):
    connection = expiring(member, provider)
    upstream.post(provider.token_endpoint, status=400, json={"error": "invalid_grant"})

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 409
    assert response.json()["reason"] == "expired"
    assert "connect_url" in response.json()
    connection.refresh_from_db()
    assert connection.status == Connection.Status.EXPIRED
    assert connection.access_token == connection.refresh_token == ""
    event = AuditEvent.objects.get(event=AuditEvent.Event.CONNECTION_EXPIRED)
    assert event.details["reason"] == "invalid_grant"


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 503, "body": "down"},
        {"status": 500, "json": {"error": "server_error"}},
        {"body": requests.Timeout()},
        {"body": requests.ConnectionError()},
        {"status": 400, "json": {"error": "temporarily_unavailable"}},
    ],
    ids=["503", "500-json", "timeout", "unreachable", "temporarily_unavailable"],
)
def test_a_transient_refresh_failure_changes_nothing(api, member, provider, upstream, answer):
    connection = expiring(member, provider)
    before = Connection.objects.values().get(pk=connection.pk)
    upstream.post(provider.token_endpoint, **answer)

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response["Retry-After"] == "30"
    assert Connection.objects.values().get(pk=connection.pk) == before


def test_an_expired_token_without_a_refresh_token_expires_the_connection(api, member, provider, upstream):
    connection = fresh(member, provider, expires_at=timezone.now() - timedelta(minutes=1))
    Connection.objects.filter(pk=connection.pk).update(refresh_token="")

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.json()["reason"] == "expired"
    assert not upstream.calls


def test_a_token_without_expiry_is_handed_out_as_it_is(api, member, provider, upstream):
    fresh(member, provider, expires_at=None)

    response = api.post(token_path(provider), {"scopes": ["calendar.read"]})

    assert response.status_code == 200
    assert response.json()["expires_at"] is None
    assert not upstream.calls
