"""An administrator issues initial access tokens in the admin (shown once) and revokes them."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.registration.models import InitialAccessToken
from tests.registration.factories import code_client_metadata, initial_token, register

pytestmark = pytest.mark.django_db

ADD = "/admin/registration/initialaccesstoken/add/"


def add_form(**overrides) -> dict:
    expires = timezone.now() + timedelta(days=3)
    data = {
        "description": "Planner team",
        "scopes": ["openid", "member-read"],
        "expires_0": expires.strftime("%Y-%m-%d"),
        "expires_1": expires.strftime("%H:%M:%S"),
        "expires": expires.strftime("%Y-%m-%d %H:%M:%S"),
        "max_uses": "1",
    }
    data.update(overrides)
    return data


def test_the_admin_issues_a_token_shown_once_that_registers_a_client(admin_browser, admin_user):
    response = admin_browser.post(ADD, add_form())

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    value = re.search(r"<code>([A-Za-z0-9_-]{43})</code>", response.content.decode()).group(1)
    stored = InitialAccessToken.objects.get()
    assert stored.token != value
    assert stored.created_by == admin_user
    assert stored.scopes == ["openid", "member-read"]
    event = AuditEvent.objects.get(event=AuditEvent.Event.REGISTRATION_TOKEN_ISSUED)
    assert event.actor_user == admin_user
    assert value not in str(event.details)
    change_page = admin_browser.get(
        f"/admin/registration/initialaccesstoken/{stored.pk}/change/"
    ).content.decode()
    assert value not in change_page
    metadata = code_client_metadata(scope="openid member-read", grant_types=["authorization_code"])
    assert register(value, metadata).status_code == 201


@pytest.mark.parametrize(
    "overrides",
    [{"scopes": []}, {"scopes": ["admin"]}, {"max_uses": "0"}, {"expires": "2000-01-01 00:00:00"}],
)
def test_the_admin_refuses_a_bad_token_and_stores_nothing(admin_browser, overrides):
    data = add_form(**overrides)
    if "expires" in overrides:
        data["expires_0"], data["expires_1"] = overrides["expires"].split()

    response = admin_browser.post(ADD, data)

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not InitialAccessToken.objects.exists()


def test_the_admin_revokes_tokens_with_an_action(admin_browser):
    value = initial_token(uses=5)
    token = InitialAccessToken.objects.get()

    response = admin_browser.post(
        "/admin/registration/initialaccesstoken/",
        {"action": "revoke_tokens", "_selected_action": [str(token.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    token.refresh_from_db()
    assert token.revoked is not None
    assert register(value, code_client_metadata()).status_code == 401
    assert AuditEvent.objects.filter(event=AuditEvent.Event.REGISTRATION_TOKEN_REVOKED).count() == 1


def test_an_issued_token_cannot_be_widened(admin_browser):
    initial_token(["member-read"])
    token = InitialAccessToken.objects.get()

    admin_browser.post(
        f"/admin/registration/initialaccesstoken/{token.pk}/change/",
        add_form(scopes=["member-read", "checkout-write"], max_uses="50"),
    )

    token.refresh_from_db()
    assert token.scopes == ["member-read"]
    assert token.max_uses == 1


def test_registrations_are_listed_without_their_token(admin_browser):
    body = register(initial_token(), code_client_metadata()).json()

    page = admin_browser.get("/admin/registration/clientregistration/").content.decode()

    assert "Planner" in page
    assert body["registration_access_token"] not in page
    assert body["registration_access_token"][:8] in page
