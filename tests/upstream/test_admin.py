"""The admin: the client secret is write-only, tokens are never shown, connections are only revoked."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.upstream.fields import unseal
from apps.upstream.models import ENDPOINT_FIELDS, ApplicationUpstreamRequirement, Connection, UpstreamProvider
from tests.oauth.factories import ApplicationFactory
from tests.upstream.factories import (
    ConnectionFactory,
    RequirementFactory,
    UpstreamIdentityFactory,
    UpstreamProviderFactory,
)
from tests.upstream.test_discovery import ISSUER, URL, configuration

pytestmark = pytest.mark.django_db

SECRET = "typed-in-client-secret-0123456789abcdef"
PROVIDERS = "/admin/upstream/upstreamprovider/"


def provider_form(**overrides) -> dict:
    data = {
        "slug": "university",
        "name": "University",
        "icon_url": "",
        "enabled": "on",
        "discovery_url": "",
        "issuer": "https://idp.example.edu",
        "authorization_endpoint": "https://idp.example.edu/authorize",
        "token_endpoint": "https://idp.example.edu/token",
        "revocation_endpoint": "",
        "userinfo_endpoint": "",
        "jwks_uri": "",
        "client_id": "latch",
        "new_client_secret": SECRET,
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "use_pkce": "on",
        "default_scopes": "openid",
        "available_scopes": '[{"scope": "openid", "description": "Sign you in"}]',
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def change_form(provider: UpstreamProvider, **overrides) -> dict:
    """The change form as the admin shows it for `provider`, with `overrides` typed in."""
    shown = {
        name: getattr(provider, name) for name in (*ENDPOINT_FIELDS, "name", "client_id", "discovery_url")
    }
    data = provider_form(
        **{
            **shown,
            "available_scopes": json.dumps(provider.available_scopes),
            # A JSONField with a callable default carries its initial value in a hidden input.
            "initial-available_scopes": json.dumps(provider.available_scopes),
            "default_scopes": " ".join(provider.default_scopes),
            "new_client_secret": "",
            **overrides,
        }
    )
    data.pop("slug")
    return data


def every_page(browser: Client, provider: UpstreamProvider) -> str:
    """The HTML of every admin page that shows the provider."""
    pages = [
        PROVIDERS,
        f"{PROVIDERS}?q={provider.slug}",
        f"{PROVIDERS}{provider.pk}/change/",
        f"{PROVIDERS}{provider.pk}/history/",
        f"{PROVIDERS}{provider.pk}/delete/",
        "/admin/upstream/connection/",
        "/admin/upstream/upstreamidentity/",
        "/admin/upstream/applicationupstreamrequirement/",
        "/admin/audit/auditevent/",
    ]
    html = ""
    for page in pages:
        response = browser.get(page)
        assert response.status_code == 200, page
        html += response.content.decode()
    return html


def test_adding_a_provider_seals_the_secret_and_no_page_ever_shows_it(admin_browser):
    response = admin_browser.post(f"{PROVIDERS}add/", provider_form())

    assert response.status_code == 302, response.content.decode()
    provider = UpstreamProvider.objects.get()
    assert unseal(provider, "client_secret") == SECRET
    html = every_page(admin_browser, provider)
    assert SECRET not in html
    assert provider.client_secret not in html
    assert provider.client_secret.split(":")[3] not in html
    assert "set (key k1)" in html
    [added] = AuditEvent.objects.filter(event=AuditEvent.Event.UPSTREAM_PROVIDER_ADDED)
    assert added.actor_type == "admin"
    assert added.actor_user.email == "root@example.org"


def test_the_secret_field_is_a_password_field_that_is_never_filled_in(admin_browser):
    provider = UpstreamProviderFactory()

    html = admin_browser.get(f"{PROVIDERS}{provider.pk}/change/").content.decode()

    assert '<input type="password" name="new_client_secret"' in html
    assert 'name="client_secret"' not in html
    assert "Leave blank to keep the current secret." in html
    assert provider.secret not in html


def test_a_form_with_errors_does_not_send_the_typed_secret_back(admin_browser):
    response = admin_browser.post(
        f"{PROVIDERS}add/", provider_form(token_endpoint="http://idp.example.edu/t")
    )

    assert response.status_code == 200
    assert "Must be an https URL." in response.content.decode()
    assert SECRET not in response.content.decode()
    assert not UpstreamProvider.objects.exists()


def test_adding_needs_a_secret(admin_browser):
    response = admin_browser.post(f"{PROVIDERS}add/", provider_form(new_client_secret=""))

    assert response.status_code == 200
    assert not UpstreamProvider.objects.exists()


def test_leaving_the_secret_blank_keeps_it(admin_browser):
    provider = UpstreamProviderFactory()
    blob = provider.client_secret

    response = admin_browser.post(f"{PROVIDERS}{provider.pk}/change/", change_form(provider, name="Renamed"))

    assert response.status_code == 302, response.content.decode()
    provider.refresh_from_db()
    assert (provider.name, provider.client_secret) == ("Renamed", blob)
    [changed] = AuditEvent.objects.filter(event=AuditEvent.Event.UPSTREAM_PROVIDER_CHANGED)
    assert changed.details == {"provider": provider.slug, "fields": ["name"]}
    assert not AuditEvent.objects.filter(event=AuditEvent.Event.UPSTREAM_CLIENT_SECRET_CHANGED).exists()


def test_tokens_may_exceed_scopes_is_off_by_default_and_explained_in_the_admin(admin_browser):
    provider = UpstreamProviderFactory()

    page = admin_browser.get(f"{PROVIDERS}{provider.pk}/change/").content.decode()

    assert 'name="tokens_may_exceed_scopes"' in page
    assert "Tick this to hand such apps the broader token instead" in page
    assert provider.tokens_may_exceed_scopes is False
    response = admin_browser.post(
        f"{PROVIDERS}{provider.pk}/change/", change_form(provider, tokens_may_exceed_scopes="on")
    )
    assert response.status_code == 302, response.content.decode()
    provider.refresh_from_db()
    assert provider.tokens_may_exceed_scopes is True


def test_typing_a_new_secret_replaces_it_and_is_audited_without_it(admin_browser):
    provider = UpstreamProviderFactory()

    admin_browser.post(f"{PROVIDERS}{provider.pk}/change/", change_form(provider, new_client_secret=SECRET))

    provider.refresh_from_db()
    assert unseal(provider, "client_secret") == SECRET
    [event] = AuditEvent.objects.filter(event=AuditEvent.Event.UPSTREAM_CLIENT_SECRET_CHANGED)
    assert event.details == {"provider": provider.slug}
    assert SECRET not in every_page(admin_browser, provider)


def test_the_slug_cannot_be_changed(admin_browser):
    provider = UpstreamProviderFactory(slug="fixed")

    admin_browser.post(f"{PROVIDERS}fixed/change/", {**change_form(provider), "slug": "moved"})

    assert list(UpstreamProvider.objects.values_list("slug", flat=True)) == ["fixed"]


def test_a_discovery_url_fills_the_endpoints(admin_browser, upstream):
    upstream.get(URL, json=configuration())

    response = admin_browser.post(
        f"{PROVIDERS}add/",
        provider_form(discovery_url=URL, issuer="", authorization_endpoint="", token_endpoint=""),
    )

    assert response.status_code == 302, response.content.decode()
    provider = UpstreamProvider.objects.get()
    assert (provider.issuer, provider.jwks_uri) == (ISSUER, f"{ISSUER}/jwks")
    assert provider.discovered_at is not None


def test_a_failed_discovery_shows_why_and_saves_nothing(admin_browser, upstream):
    upstream.get(URL, json=configuration(issuer="https://evil.example.net"))

    response = admin_browser.post(f"{PROVIDERS}add/", provider_form(discovery_url=URL))

    assert response.status_code == 200
    assert "names issuer &#x27;https://evil.example.net&#x27;" in response.content.decode()
    assert not UpstreamProvider.objects.exists()


def test_the_rediscover_action_changes_nothing_when_discovery_fails(admin_browser, upstream):
    provider = UpstreamProviderFactory(discovery_url=URL, issuer=ISSUER)
    before = provider.token_endpoint
    upstream.get(URL, status=503)

    response = admin_browser.post(
        PROVIDERS, {"action": "rediscover", "_selected_action": [provider.pk]}, follow=True
    )

    assert "answered HTTP 503" in response.content.decode()
    provider.refresh_from_db()
    assert provider.token_endpoint == before


def test_a_provider_applications_need_cannot_be_deleted(admin_browser):
    requirement = RequirementFactory()
    provider = requirement.provider

    page = admin_browser.get(f"{PROVIDERS}{provider.pk}/delete/").content.decode()
    admin_browser.post(f"{PROVIDERS}{provider.pk}/delete/", {"post": "yes"})
    admin_browser.post(
        PROVIDERS, {"action": "delete_selected", "_selected_action": [provider.pk], "post": "yes"}
    )

    assert "would require deleting the following protected related objects" in page
    assert str(requirement) in page
    assert UpstreamProvider.objects.filter(pk=provider.pk).exists()
    assert not AuditEvent.objects.filter(event=AuditEvent.Event.UPSTREAM_PROVIDER_REMOVED).exists()


def test_deleting_a_provider_no_app_needs_is_audited(admin_browser):
    provider = UpstreamProviderFactory()

    response = admin_browser.post(f"{PROVIDERS}{provider.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not UpstreamProvider.objects.exists()
    [removed] = AuditEvent.objects.filter(event=AuditEvent.Event.UPSTREAM_PROVIDER_REMOVED)
    assert removed.details["provider"] == provider.slug


def test_disabling_a_provider_an_app_needs_warns(admin_browser):
    requirement = RequirementFactory(on_missing="error")
    provider = requirement.provider

    response = admin_browser.post(
        f"{PROVIDERS}{provider.pk}/change/", change_form(provider, enabled=None), follow=True
    )

    assert f"these applications cannot work without it: {requirement.application.name}" in (
        response.content.decode()
    )


# --- Identities and connections --------------------------------------------------------------------


def test_identities_and_connections_are_read_only(admin_browser):
    connection = ConnectionFactory()
    identity = UpstreamIdentityFactory()

    for model, obj in (("connection", connection), ("upstreamidentity", identity)):
        assert admin_browser.get(f"/admin/upstream/{model}/add/").status_code == 403
        page = admin_browser.get(f"/admin/upstream/{model}/{obj.pk}/change/")
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()
        assert (
            admin_browser.post(f"/admin/upstream/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )
    assert Connection.objects.exists()


def test_connection_pages_never_show_a_token(admin_browser):
    connection = ConnectionFactory()

    html = admin_browser.get("/admin/upstream/connection/").content.decode()
    html += admin_browser.get(f"/admin/upstream/connection/{connection.pk}/change/").content.decode()

    for value in (connection.access, connection.refresh, connection.access_token, connection.refresh_token):
        assert value not in html
    assert "calendar.read" in html


def test_revoking_a_connection_revokes_upstream_deletes_the_tokens_and_is_audited(admin_browser, upstream):
    connection = ConnectionFactory()
    revocation = upstream.post(connection.provider.revocation_endpoint)

    response = admin_browser.post(
        "/admin/upstream/connection/", {"action": "revoke", "_selected_action": [connection.pk]}, follow=True
    )

    assert f"revoked at {connection.provider.name}" in response.content.decode()
    assert "Revoked 1 connection." in response.content.decode()
    stored = Connection.objects.get(pk=connection.pk)
    assert (stored.status, stored.access_token, stored.refresh_token) == ("revoked", "", "")
    assert revocation.call_count == 2
    bodies = [call.request.body for call in upstream.calls]
    assert f"token={connection.refresh}&token_type_hint=refresh_token" in bodies[0]
    assert f"token={connection.access}&token_type_hint=access_token" in bodies[1]
    [event] = AuditEvent.objects.filter(event=AuditEvent.Event.CONNECTION_REVOKED)
    assert event.details == {
        "provider": connection.provider_id,
        "member": str(connection.user.public_id),
        "connection": str(connection.pk),
        "upstream": f"revoked at {connection.provider.name}",
    }
    assert event.actor_type == "admin"


def test_revoking_deletes_the_tokens_even_when_the_provider_fails(admin_browser, upstream):
    connection = ConnectionFactory()
    upstream.post(connection.provider.revocation_endpoint, status=500)

    response = admin_browser.post(
        "/admin/upstream/connection/", {"action": "revoke", "_selected_action": [connection.pk]}, follow=True
    )

    assert "not revoked at the provider" in response.content.decode()
    assert Connection.objects.get(pk=connection.pk).access_token == ""


def test_revoking_without_a_revocation_endpoint_and_twice(admin_browser, upstream):
    connection = ConnectionFactory(provider=UpstreamProviderFactory(revocation_endpoint=""))
    data = {"action": "revoke", "_selected_action": [connection.pk]}

    first = admin_browser.post("/admin/upstream/connection/", data, follow=True).content.decode()
    second = admin_browser.post("/admin/upstream/connection/", data, follow=True).content.decode()

    assert "has no revocation endpoint: its tokens expire on their own" in first
    assert "Revoked 0 connections." in second
    assert len(upstream.calls) == 0
    assert AuditEvent.objects.filter(event=AuditEvent.Event.CONNECTION_REVOKED).count() == 1


# --- Application requirements -------------------------------------------------------------------


def test_a_requirement_is_added_with_scopes_from_the_provider(admin_browser):
    provider = UpstreamProviderFactory()
    application = ApplicationFactory()

    response = admin_browser.post(
        "/admin/upstream/applicationupstreamrequirement/add/",
        {
            "application": application.pk,
            "provider": provider.pk,
            "scopes": "calendar.read calendar.write",
            "on_missing": "prompt_connect",
        },
    )

    assert response.status_code == 302, response.content.decode()
    requirement = ApplicationUpstreamRequirement.objects.get()
    assert requirement.scopes == ["calendar.read", "calendar.write"]


def test_an_error_requirement_on_a_disabled_provider_is_refused_and_explained(admin_browser):
    provider = UpstreamProviderFactory(enabled=False)

    response = admin_browser.post(
        "/admin/upstream/applicationupstreamrequirement/add/",
        {
            "application": ApplicationFactory().pk,
            "provider": provider.pk,
            "scopes": "",
            "on_missing": "error",
        },
    )

    assert response.status_code == 200
    assert f"Blocked: the app cannot work while {provider.name} is disabled." in response.content.decode()
    assert not ApplicationUpstreamRequirement.objects.exists()


def test_the_requirements_list_shows_which_are_blocked(admin_browser):
    blocked = RequirementFactory(on_missing="error")
    RequirementFactory()
    UpstreamProvider.objects.filter(pk=blocked.provider_id).update(enabled=False)

    html = admin_browser.get(
        reverse("admin:upstream_applicationupstreamrequirement_changelist")
    ).content.decode()

    assert f"Blocked: the app cannot work while {blocked.provider.name} is disabled." in html
    assert "OK" in html
