"""Administrators' changes to applications are audited; the audit log itself is read-only in the admin."""

import re

import pytest
from django.test import RequestFactory

from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.oauth.models import Application
from tests.accounts.factories import UserFactory
from tests.accounts.mfa import staff_browser
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

ADMIN_IP = "198.51.100.20"


@pytest.fixture
def admin_user():
    return UserFactory(email="root@example.org", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_browser(admin_user):
    # A sign-in, so a login.succeeded row (and mfa.added for the app it sets up): rows() filters by event.
    return staff_browser(admin_user, REMOTE_ADDR=ADMIN_IP)


def rows(event: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event=event).order_by("pk"))


def form(application: Application | None = None, **overrides):
    data = {
        "name": "Planner",
        "description": "",
        "homepage_url": "",
        "logo_url": "",
        "client_type": "confidential",
        "authorization_grant_type": "authorization-code",
        "redirect_uris": "https://planner.example.org/callback",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "allowed_scopes": ["openid", "member-read"],
        "access_token_format": "opaque",
        "user": "",
    }
    if application is not None:
        data.update(
            name=application.name,
            redirect_uris=application.redirect_uris,
            post_logout_redirect_uris=application.post_logout_redirect_uris,
            allowed_scopes=application.allowed_scopes,
        )
    data.update(overrides)
    return data


def assert_by_admin(row: AuditEvent, admin_user, client_id: str) -> None:
    assert (row.actor_type, row.actor_user, row.actor_label) == ("admin", admin_user, "root@example.org")
    assert (row.client_id, row.ip) == (client_id, ADMIN_IP)


def test_creating_an_application_records_it_without_the_secret(admin_browser, admin_user):
    response = admin_browser.post("/admin/oauth/application/add/", form())

    secret = re.search(r"<td><code>([A-Za-z0-9_-]{60,})</code></td>", response.content.decode()).group(1)
    application = Application.objects.get()
    (row,) = rows("application.created")
    assert_by_admin(row, admin_user, application.client_id)
    assert row.details == {
        "name": "Planner",
        "client_type": "confidential",
        "grant_type": "authorization-code",
        "allowed_scopes": ["openid", "member-read"],
        "redirect_uris": ["https://planner.example.org/callback"],
        "pkce_optional": False,
        "is_resource_server": False,
        "require_dpop": False,
    }
    assert secret not in str(row.details)


def test_changing_an_application_records_the_fields_and_the_old_and_new_scopes(admin_browser, admin_user):
    application = ApplicationFactory(allowed_scopes=["openid", "member-read"])

    response = admin_browser.post(
        f"/admin/oauth/application/{application.pk}/change/",
        form(application, name="Renamed", allowed_scopes=["openid", "member-read", "group-read"]),
    )

    assert response.status_code == 302, response.content
    (row,) = rows("application.changed")
    assert_by_admin(row, admin_user, application.client_id)
    assert row.details == {
        "fields": ["name", "allowed_scopes"],
        "allowed_scopes": {"old": ["openid", "member-read"], "new": ["openid", "member-read", "group-read"]},
    }


def test_changing_redirect_uris_records_the_old_and_new_uris(admin_browser):
    application = ApplicationFactory(allowed_scopes=["openid"])

    admin_browser.post(
        f"/admin/oauth/application/{application.pk}/change/",
        form(application, redirect_uris="https://evil.example.net/cb"),
    )

    (row,) = rows("application.changed")
    assert row.details == {
        "fields": ["redirect_uris"],
        "allowed_scopes": {"old": ["openid"], "new": ["openid"]},
        "redirect_uris": {
            "old": ["https://app.example.org/callback"],
            "new": ["https://evil.example.net/cb"],
        },
    }


@pytest.mark.parametrize("switch", ["pkce_optional", "is_resource_server", "require_dpop"])
def test_turning_a_security_switch_on_and_off_records_the_old_and_new_value(
    admin_browser, admin_user, switch
):
    application = ApplicationFactory(allowed_scopes=["openid"])
    change_url = f"/admin/oauth/application/{application.pk}/change/"

    assert admin_browser.post(change_url, form(application, **{switch: "on"})).status_code == 302
    assert admin_browser.post(change_url, form(application)).status_code == 302

    turned_on, turned_off = rows("application.changed")
    assert_by_admin(turned_on, admin_user, application.client_id)
    assert turned_on.details["fields"] == [switch]
    assert turned_on.details[switch] == {"old": False, "new": True}
    assert turned_off.details[switch] == {"old": True, "new": False}


def test_saving_an_application_unchanged_records_nothing(admin_browser):
    application = ApplicationFactory()

    response = admin_browser.post(f"/admin/oauth/application/{application.pk}/change/", form(application))

    assert response.status_code == 302, response.content
    assert rows("application.changed") == []


def test_a_refused_change_records_nothing(admin_browser):
    application = ApplicationFactory()

    response = admin_browser.post(
        f"/admin/oauth/application/{application.pk}/change/", form(application, allowed_scopes=["nonsense"])
    )

    assert response.status_code == 200
    assert rows("application.changed") == []


def test_deleting_an_application_records_it(admin_browser, admin_user):
    application = ApplicationFactory(name="Kiosk")

    admin_browser.post(f"/admin/oauth/application/{application.pk}/delete/", {"post": "yes"})

    assert not Application.objects.exists()
    (row,) = rows("application.deleted")
    assert_by_admin(row, admin_user, application.client_id)
    assert row.details == {"name": "Kiosk"}


def test_deleting_applications_in_bulk_records_each(admin_browser, admin_user):
    first, second = ApplicationFactory(name="One"), ApplicationFactory(name="Two")

    admin_browser.post(
        "/admin/oauth/application/",
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )

    assert not Application.objects.exists()
    deleted = rows("application.deleted")
    assert sorted((row.client_id, row.details["name"]) for row in deleted) == sorted(
        [(first.client_id, "One"), (second.client_id, "Two")]
    )
    for row in deleted:
        assert_by_admin(row, admin_user, row.client_id)


def test_generating_a_new_secret_records_the_rotation_without_the_secret(admin_browser, admin_user):
    application = ApplicationFactory(name="Kiosk")
    public = ApplicationFactory(client_type=Application.CLIENT_PUBLIC)

    response = admin_browser.post(
        "/admin/oauth/application/",
        {"action": "new_client_secret", "_selected_action": [application.pk, public.pk]},
    )

    secret = re.search(r"<td><code>([A-Za-z0-9_-]{60,})</code></td>", response.content.decode()).group(1)
    (row,) = rows("client_secret.rotated")
    assert_by_admin(row, admin_user, application.client_id)
    assert row.details == {"name": "Kiosk"}
    assert secret not in str(row.details)


# --- the audit log's own admin ---------------------------------------------------------------


@pytest.fixture
def event(admin_user):
    return record(
        AuditEvent.Event.TOKEN_ISSUED,
        user=admin_user,
        client_id="kiosk-client",
        grant_type="authorization_code",
        scope="openid <b>",
    )


def test_the_audit_log_lists_filters_and_searches(admin_browser, event):
    listing = admin_browser.get("/admin/audit/auditevent/")
    filtered = admin_browser.get("/admin/audit/auditevent/", {"event": "token.issued", "actor_type": "user"})
    other = admin_browser.get("/admin/audit/auditevent/", {"event": "logout"})
    found = admin_browser.get("/admin/audit/auditevent/", {"q": "kiosk-cl"})
    missed = admin_browser.get("/admin/audit/auditevent/", {"q": "nobody@example.org"})

    assert listing.status_code == 200
    assert "kiosk-client" in listing.content.decode()
    assert list(filtered.context["cl"].result_list) == [event]
    assert list(other.context["cl"].result_list) == []
    assert list(found.context["cl"].result_list) == [event]
    assert list(missed.context["cl"].result_list) == []


def test_the_audit_log_searches_by_ip(admin_browser):
    record(AuditEvent.Event.THROTTLED, request=RequestFactory(REMOTE_ADDR="192.0.2.78").get("/"))
    hit = record(AuditEvent.Event.THROTTLED, request=RequestFactory(REMOTE_ADDR="192.0.2.77").get("/"))

    found = admin_browser.get("/admin/audit/auditevent/", {"q": "192.0.2.77"})

    assert list(found.context["cl"].result_list) == [hit]


def test_an_audit_event_page_shows_the_details_readably_and_escaped(admin_browser, event):
    page = admin_browser.get(f"/admin/audit/auditevent/{event.pk}/change/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "<pre>{\n  &quot;grant_type&quot;: &quot;authorization_code&quot;," in html
    assert "openid &lt;b&gt;" in html
    assert "<b>" not in html.split("<pre>")[1]
    assert 'name="_save"' not in html


def test_nobody_can_add_change_or_delete_audit_events_in_the_admin(admin_browser, event):
    add = admin_browser.post("/admin/audit/auditevent/add/", {"event": "logout", "actor_type": "anonymous"})
    change = admin_browser.post(
        f"/admin/audit/auditevent/{event.pk}/change/", {"event": "logout", "actor_type": "anonymous"}
    )
    delete = admin_browser.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})
    bulk = admin_browser.post(
        "/admin/audit/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert bulk.status_code == 200  # "No action selected": the listing offers no actions at all
    assert admin_browser.get("/admin/audit/auditevent/").context["action_form"] is None
    event.refresh_from_db()
    assert (event.event, event.actor_type) == ("token.issued", "user")
    assert AuditEvent.objects.filter(pk=event.pk).exists()
