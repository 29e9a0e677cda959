"""RFC 6749 §6: a refresh token keeps the scope the member granted, whatever an access token was narrowed to.

"The requested scope MUST NOT include any scope not originally granted by the resource owner, and
if omitted is treated as equal to the scope originally granted"; "If a new refresh token is issued,
the refresh token scope MUST be identical to that of the refresh token included by the client in
the request."
"""

import pytest
from django.test import Client

from apps.oauth.models import RefreshToken
from apps.oauth.validators import token_checksum
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

GRANTED = "member-read activity-read offline_access"
NARROWED = "member-read offline_access"


def narrowed_refresh(application, refresh_token: str) -> dict:
    """The client refreshes asking for fewer scopes than the member granted."""
    response = flow.refresh(Client(), application, refresh_token, scope=NARROWED)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body["scope"].split()) == set(NARROWED.split())
    return body


def stored(refresh_token: str) -> RefreshToken:
    return RefreshToken.objects.get(token_checksum=token_checksum(refresh_token))


def introspected_scope(token: str, caller) -> set[str]:
    response = Client().post("/oauth/introspect", {"token": token}, **flow.app_auth(caller))
    assert response.json()["active"] is True
    return set(response.json()["scope"].split())


def test_a_refresh_without_scope_after_a_narrowed_one_gets_the_whole_original_scope(member, application):
    first = flow.obtain_tokens(member, application, scope=GRANTED)
    narrowed = narrowed_refresh(application, first["refresh_token"])

    response = flow.refresh(Client(), application, narrowed["refresh_token"])

    assert response.status_code == 200, response.content
    assert set(response.json()["scope"].split()) == set(GRANTED.split())


def test_a_narrowed_refresh_token_may_still_ask_for_an_originally_granted_scope(member, application):
    first = flow.obtain_tokens(member, application, scope=GRANTED)
    narrowed = narrowed_refresh(application, first["refresh_token"])

    response = flow.refresh(
        Client(), application, narrowed["refresh_token"], scope="activity-read offline_access"
    )

    assert response.status_code == 200, response.content
    assert set(response.json()["scope"].split()) == {"activity-read", "offline_access"}


def test_a_narrowed_refresh_token_cannot_ask_for_a_scope_never_granted(member, application):
    first = flow.obtain_tokens(member, application, scope=GRANTED)
    narrowed = narrowed_refresh(application, first["refresh_token"])

    response = flow.refresh(
        Client(), application, narrowed["refresh_token"], scope="member-read group-read offline_access"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    # Nothing changed: the refresh token is neither spent nor narrowed.
    assert stored(narrowed["refresh_token"]).revoked is None
    again = flow.refresh(Client(), application, narrowed["refresh_token"])
    assert again.status_code == 200, again.content
    assert set(again.json()["scope"].split()) == set(GRANTED.split())


def test_the_refresh_token_keeps_the_scope_of_the_code_and_every_rotation_copies_it(member, application):
    first = flow.obtain_tokens(member, application, scope=GRANTED)
    assert stored(first["refresh_token"]).scope.split() == GRANTED.split()

    narrowed = narrowed_refresh(application, first["refresh_token"])

    assert stored(narrowed["refresh_token"]).scope.split() == GRANTED.split()


def test_introspecting_the_refresh_token_of_a_narrowed_refresh_shows_the_original_scope(member, application):
    resource_server = ApplicationFactory(is_resource_server=True)
    first = flow.obtain_tokens(member, application, scope=GRANTED)
    narrowed = narrowed_refresh(application, first["refresh_token"])

    assert introspected_scope(narrowed["refresh_token"], resource_server) == set(GRANTED.split())
    assert introspected_scope(narrowed["access_token"], resource_server) == set(NARROWED.split())


def test_scopes_the_admin_withdrew_are_dropped_from_a_narrowed_chain(member, application):
    first = flow.obtain_tokens(member, application, scope=GRANTED)
    narrowed = narrowed_refresh(application, first["refresh_token"])
    application.allowed_scopes = ["member-read", "offline_access"]
    application.save()

    withdrawn = flow.refresh(
        Client(), application, narrowed["refresh_token"], scope="activity-read offline_access"
    )
    assert withdrawn.status_code == 400
    assert withdrawn.json()["error"] == "invalid_scope"

    response = flow.refresh(Client(), application, narrowed["refresh_token"])
    assert response.status_code == 200, response.content
    assert set(response.json()["scope"].split()) == {"member-read", "offline_access"}
    # Gone from the chain for good: allowing it to the app again does not bring it back.
    assert stored(response.json()["refresh_token"]).scope.split() == ["member-read", "offline_access"]


def test_a_refresh_token_stored_without_a_scope_refreshes_with_its_access_tokens(member, application):
    """Rows stored before refresh tokens had a scope of their own fall back to their access token's."""
    first = flow.obtain_tokens(member, application, scope=GRANTED)
    RefreshToken.objects.update(scope="")

    response = flow.refresh(Client(), application, first["refresh_token"])

    assert response.status_code == 200, response.content
    assert set(response.json()["scope"].split()) == set(GRANTED.split())
    assert stored(response.json()["refresh_token"]).scope.split() == GRANTED.split()


def test_a_refresh_token_stored_without_a_scope_introspects_with_its_access_tokens(member, application):
    first = flow.obtain_tokens(member, application, scope=GRANTED)
    RefreshToken.objects.update(scope="")

    assert introspected_scope(first["refresh_token"], application) == set(GRANTED.split())
