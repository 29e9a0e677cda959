"""Connecting an account for apps (scope aggregation, tokens sealed), the member's list, disconnecting."""

from datetime import timedelta
from urllib.parse import parse_qs, urlencode

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.oauth.models import Consent
from apps.upstream.fields import unseal
from apps.upstream.models import Connection
from tests.accounts.factories import UserFactory
from tests.upstream.factories import (
    ConnectionFactory,
    RequirementFactory,
    UpstreamIdentityFactory,
    UpstreamProviderFactory,
)
from tests.upstream.idp import FakeIdP

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return UpstreamProviderFactory(default_scopes=["openid"])


@pytest.fixture
def idp(upstream, provider):
    return FakeIdP(upstream, provider)


@pytest.fixture
def member():
    return UserFactory()


@pytest.fixture
def browser(member):
    client = Client()
    client.force_login(member)
    return client


def connect_path(provider, scope: str = "", next_url: str = "") -> str:
    query = {name: value for name, value in {"scope": scope, "next": next_url}.items() if value}
    return f"/accounts/connections/{provider.slug}/connect" + (f"?{urlencode(query)}" if query else "")


def connect(browser, idp, *, requested: str = "calendar.read", next_url: str = "", **token):
    start = idp.start(browser, connect_path(idp.provider, requested, next_url))
    id_token = idp.id_token(nonce=start.nonce)
    idp.answer_token(id_token=id_token, **token)
    return start, idp.callback(browser, start)


def test_connect_needs_a_signed_in_member(provider):
    response = Client().get(connect_path(provider, "calendar.read"))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_connecting_stores_the_tokens_sealed(browser, idp, provider, member):
    start, response = connect(
        browser,
        idp,
        next_url="/accounts/apps/",
        access_token="upstream-access",
        refresh_token="upstream-refresh",
        expires_in=3600,
        scope="openid calendar.read",
    )

    assert start.params["scope"] == "openid calendar.read"
    assert response["Location"] == "/accounts/apps/"
    connection = Connection.objects.get(user=member, provider=provider)
    assert connection.status == Connection.Status.ACTIVE
    assert connection.scopes == ["openid", "calendar.read"]
    assert unseal(connection, "access_token") == "upstream-access"
    assert unseal(connection, "refresh_token") == "upstream-refresh"
    assert "upstream-access" not in connection.access_token
    assert abs((connection.expires_at - timezone.now()) - timedelta(seconds=3600)) < timedelta(seconds=10)
    event = AuditEvent.objects.get(event=AuditEvent.Event.CONNECTION_CONNECTED)
    assert event.details["scopes"] == ["openid", "calendar.read"]


def test_connecting_asks_for_the_union_of_granted_and_new_scopes(browser, idp, provider, member):
    ConnectionFactory(
        user=member, provider=provider, scopes=["openid", "calendar.read"], refresh="old-refresh"
    )

    start, _ = connect(browser, idp, requested="calendar.write", access_token="wider")

    assert start.params["scope"] == "openid calendar.read calendar.write"
    connection = Connection.objects.get(user=member, provider=provider)
    # The provider left `scope` out: it granted what was asked (RFC 6749 §5.1).
    assert connection.scopes == ["openid", "calendar.read", "calendar.write"]
    assert unseal(connection, "access_token") == "wider"
    # No new refresh token in the answer: the one Latch holds stays.
    assert unseal(connection, "refresh_token") == "old-refresh"


def test_the_scopes_the_provider_granted_are_stored_as_it_returned_them(browser, idp, provider, member):
    connect(browser, idp, requested="calendar.read calendar.write", scope="openid calendar.read")

    assert Connection.objects.get(user=member).scopes == ["openid", "calendar.read"]


def test_a_revoked_connection_can_be_connected_again(browser, idp, provider, member):
    connection = ConnectionFactory(user=member, provider=provider)
    Connection.objects.filter(pk=connection.pk).update(status="revoked", access_token="", refresh_token="")

    connect(browser, idp, access_token="again", refresh_token="again-refresh")

    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE
    assert unseal(connection, "refresh_token") == "again-refresh"


def test_an_unknown_scope_is_not_asked_for(browser, idp, provider):
    response = browser.get(connect_path(provider, "drive.everything"))

    assert response["Location"] == "/accounts/connections"
    assert "does not offer: drive.everything" in next(str(m) for m in get_messages(response.wsgi_request))


def test_next_to_another_site_is_ignored(browser, idp, provider):
    _, response = connect(browser, idp, next_url="https://evil.example/")

    assert response["Location"] == "/accounts/connections"


def test_a_failed_connect_changes_nothing_and_is_audited(browser, idp, provider, member):
    connection = ConnectionFactory(user=member, provider=provider, access="kept")
    start = idp.start(browser, connect_path(provider, "calendar.write"))

    response = idp.callback(browser, start, code=None, error="access_denied")

    assert response["Location"] == "/accounts/connections"
    connection.refresh_from_db()
    assert unseal(connection, "access_token") == "kept"
    assert connection.scopes == ["openid", "calendar.read"]
    failed = AuditEvent.objects.get(event=AuditEvent.Event.UPSTREAM_FAILED)
    assert failed.details == {"provider": provider.slug, "purpose": "connect", "reason": "access_denied"}


def test_a_connect_started_by_another_member_is_refused(browser, idp, provider, member):
    start = idp.start(browser, connect_path(provider, "calendar.read"))
    browser.force_login(UserFactory())  # someone else signs in in this browser meanwhile
    idp.answer_token(id_token=idp.id_token(nonce=start.nonce))

    response = idp.callback(browser, start)

    # Django's login() of another member empties the session: the flow is unknown there now.
    assert response["Location"] == "/accounts/"
    assert not Connection.objects.exists()
    assert AuditEvent.objects.get(event=AuditEvent.Event.UPSTREAM_FAILED).details["reason"] == "unknown_state"
    assert not idp.token_requests()


# --- The member's list ----------------------------------------------------------------------------


def test_the_list_shows_scopes_apps_status_and_last_use(browser, provider, member):
    connection = ConnectionFactory(user=member, provider=provider, last_used_at=timezone.now())
    used = RequirementFactory(provider=provider)
    Consent.objects.create(user=member, application=used.application, scopes=["openid"])
    RequirementFactory(provider=provider)  # an app the member never allowed

    page = browser.get("/accounts/connections").content.decode()

    assert provider.name in page
    assert "See your calendar" in page
    assert used.application.name in page
    assert "Active" in page
    assert connection.access not in page
    assert connection.refresh not in page
    assert f"/accounts/connections/{provider.slug}/disconnect" in page


def test_the_list_shows_an_expired_connection_with_a_way_back(browser, provider, member):
    connection = ConnectionFactory(user=member, provider=provider)
    Connection.objects.filter(pk=connection.pk).update(status="expired")

    page = browser.get("/accounts/connections").content.decode()

    assert "Expired: connect again" in page
    assert f"/accounts/connections/{provider.slug}/connect?scope=openid%20calendar.read" in page


def test_the_list_shows_only_the_members_own(browser, provider):
    other = ConnectionFactory(provider=provider)

    page = browser.get("/accounts/connections").content.decode()

    assert "not connected any account yet" in page
    assert str(other.user.email) not in page


# --- Disconnecting --------------------------------------------------------------------------------


def test_disconnect_revokes_upstream_and_deletes_the_tokens(browser, upstream, provider, member):
    connection = ConnectionFactory(user=member, provider=provider)
    upstream.post(provider.revocation_endpoint)

    response = browser.post(f"/accounts/connections/{provider.slug}/disconnect")

    assert response["Location"] == "/accounts/connections"
    revoked = [parse_qs(str(call.request.body)) for call in upstream.calls]
    assert [(r["token"][0], r["token_type_hint"][0]) for r in revoked] == [
        (connection.refresh, "refresh_token"),
        (connection.access, "access_token"),
    ]
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REVOKED
    assert connection.access_token == connection.refresh_token == ""
    event = AuditEvent.objects.get(event=AuditEvent.Event.CONNECTION_REVOKED)
    assert event.actor_type == AuditEvent.ActorType.USER
    assert event.actor_user == member


def test_a_failing_revocation_still_deletes_the_tokens(browser, upstream, provider, member):
    connection = ConnectionFactory(user=member, provider=provider)
    upstream.post(provider.revocation_endpoint, status=503)

    browser.post(f"/accounts/connections/{provider.slug}/disconnect")

    connection.refresh_from_db()
    assert connection.status == Connection.Status.REVOKED
    assert connection.access_token == connection.refresh_token == ""
    assert (
        "not revoked at the provider"
        in AuditEvent.objects.get(event=AuditEvent.Event.CONNECTION_REVOKED).details["upstream"]
    )


def test_another_members_connection_cannot_be_disconnected(browser, provider):
    other = ConnectionFactory(provider=provider)

    response = browser.post(f"/accounts/connections/{provider.slug}/disconnect")

    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == Connection.Status.ACTIVE


def test_disconnect_is_post_only(browser, provider, member):
    ConnectionFactory(user=member, provider=provider)

    assert browser.get(f"/accounts/connections/{provider.slug}/disconnect").status_code == 405


# --- Which upstream account was connected --------------------------------------------------------


def connect_as(browser, idp, sub: str, **claims):
    start = idp.start(browser, connect_path(idp.provider, "calendar.read"))
    idp.answer_token(
        id_token=idp.id_token(nonce=start.nonce, sub=sub, **claims),
        access_token=f"access-of-{sub}",
        refresh_token=f"refresh-of-{sub}",
    )
    response = idp.callback(browser, start)
    return response, [str(m) for m in get_messages(response.wsgi_request)]


def revoked_tokens(upstream, provider) -> list[tuple[str, str]]:
    calls = [call for call in upstream.calls if call.request.url == provider.revocation_endpoint]
    forms = [parse_qs(str(call.request.body)) for call in calls]
    return [(form["token"][0], form["token_type_hint"][0]) for form in forms]


def test_the_page_shows_which_upstream_account_was_connected(browser, idp, provider, member):
    response, said = connect_as(browser, idp, "alice-at-idp", name="Alice Example", email="alice@idp.example")

    assert response["Location"] == "/accounts/connections"
    assert said == [f"Your {provider.name} account Alice Example (alice@idp.example) is connected."]
    connection = Connection.objects.get(user=member, provider=provider)
    assert connection.subject == "alice-at-idp"
    page = browser.get("/accounts/connections").content.decode()
    assert "Alice Example (alice@idp.example)" in page


def test_connecting_another_upstream_account_than_the_members_sign_in_is_refused(
    browser, idp, upstream, provider, member
):
    UpstreamIdentityFactory(user=member, provider=provider, subject="alice-at-idp")
    upstream.post(provider.revocation_endpoint)

    response, said = connect_as(browser, idp, "mallory-at-idp", email="mallory@idp.example")

    assert response["Location"] == "/accounts/connections"
    assert "mallory@idp.example" in said[0]
    assert "not the one you sign in with" in said[0]
    assert not Connection.objects.exists()
    assert revoked_tokens(upstream, provider) == [
        ("refresh-of-mallory-at-idp", "refresh_token"),
        ("access-of-mallory-at-idp", "access_token"),
    ]
    failed = AuditEvent.objects.get(event=AuditEvent.Event.UPSTREAM_FAILED)
    assert failed.details == {"provider": provider.slug, "purpose": "connect", "reason": "another_account"}
    assert not AuditEvent.objects.filter(event=AuditEvent.Event.CONNECTION_CONNECTED).exists()


def test_reconnecting_with_another_upstream_account_than_the_connection_is_refused(
    browser, idp, upstream, provider, member
):
    connection = ConnectionFactory(user=member, provider=provider, subject="alice-at-idp", access="kept")
    upstream.post(provider.revocation_endpoint)

    _, said = connect_as(browser, idp, "mallory-at-idp")

    assert "not the one connected already" in said[0]
    connection.refresh_from_db()
    assert unseal(connection, "access_token") == "kept"
    assert connection.subject == "alice-at-idp"
    assert ("access-of-mallory-at-idp", "access_token") in revoked_tokens(upstream, provider)


def test_connecting_an_upstream_account_another_member_signs_in_with_is_refused(
    browser, idp, upstream, provider, member
):
    UpstreamIdentityFactory(provider=provider, subject="mallory-at-idp")  # another member's
    upstream.post(provider.revocation_endpoint)

    _, said = connect_as(browser, idp, "mallory-at-idp")

    assert "another Latch account" in said[0]
    assert not Connection.objects.filter(user=member).exists()


def test_a_refused_account_at_a_provider_without_revocation_is_only_forgotten(browser, idp, upstream, member):
    provider = idp.provider
    provider.revocation_endpoint = ""
    provider.save()
    UpstreamIdentityFactory(user=member, provider=provider, subject="alice-at-idp")

    _, said = connect_as(browser, idp, "mallory-at-idp")

    assert "not the one you sign in with" in said[0]
    assert not Connection.objects.exists()
    assert not [call for call in upstream.calls if "revoke" in call.request.url]


def test_the_same_upstream_account_reconnects(browser, idp, upstream, provider, member):
    UpstreamIdentityFactory(user=member, provider=provider, subject="alice-at-idp")
    ConnectionFactory(user=member, provider=provider, subject="alice-at-idp")

    connect_as(browser, idp, "alice-at-idp")

    connection = Connection.objects.get(user=member, provider=provider)
    assert unseal(connection, "access_token") == "access-of-alice-at-idp"
    assert not revoked_tokens(upstream, provider)


def test_a_connect_without_an_id_token_learns_the_account_from_userinfo(browser, upstream, member):
    provider = UpstreamProviderFactory(default_scopes=[])
    idp = FakeIdP(upstream, provider)
    UpstreamIdentityFactory(user=member, provider=provider, subject="alice-at-idp")
    upstream.get(provider.userinfo_endpoint, json={"sub": "mallory-at-idp"})
    upstream.post(provider.revocation_endpoint)
    start = idp.start(browser, connect_path(provider, "calendar.read"))
    idp.answer_token(access_token="access-of-mallory")

    response = idp.callback(browser, start)

    assert "not the one you sign in with" in next(str(m) for m in get_messages(response.wsgi_request))
    assert not Connection.objects.exists()
