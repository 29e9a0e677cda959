"""RFC 7592: the registration access token reads, replaces and deletes its own client, and nothing else."""

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.oauth.models import Application
from apps.registration.models import ClientRegistration
from tests.oauth.factories import ApplicationFactory
from tests.registration.factories import code_client_metadata, initial_token, manage, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered() -> dict:
    response = register(initial_token(uses=2), code_client_metadata())
    assert response.status_code == 201, response.content
    return response.json()


def replacement(registered: dict, **overrides) -> dict:
    return {"client_id": registered["client_id"], **code_client_metadata(**overrides)}


def test_read_shows_the_metadata_but_no_secret(registered):
    response = manage("get", registered)

    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["client_id"] == registered["client_id"]
    assert body["redirect_uris"] == registered["redirect_uris"]
    assert body["registration_client_uri"] == registered["registration_client_uri"]
    assert "client_secret" not in body
    assert "registration_access_token" not in body


def test_update_replaces_the_metadata_and_is_audited(registered):
    body = replacement(
        registered,
        client_name="Planner 2",
        redirect_uris=["https://app.example.org/cb2"],
        scope="openid member-read",
    )

    response = manage("put", registered, body=body)

    assert response.status_code == 200, response.content
    assert response.json()["client_name"] == "Planner 2"
    assert response.json()["grant_types"] == ["authorization_code"]  # no offline_access any more
    application = Application.objects.get(client_id=registered["client_id"])
    assert application.name == "Planner 2"
    assert application.redirect_uris == "https://app.example.org/cb2"
    assert application.allowed_scopes == ["openid", "member-read"]
    event = AuditEvent.objects.get(event=AuditEvent.Event.CLIENT_REGISTRATION_CHANGED)
    assert "name" in event.details["fields"]
    assert event.details["allowed_scopes"]["new"] == ["openid", "member-read"]


def test_update_is_held_to_the_initial_tokens_ceiling(registered):
    response = manage("put", registered, body=replacement(registered, scope="openid checkout-write"))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    application = Application.objects.get(client_id=registered["client_id"])
    assert application.allowed_scopes == ["openid", "offline_access", "member-read"]


def test_update_keeps_the_ceiling_after_the_initial_token_is_gone(registered):
    ClientRegistration.objects.get().initial_access_token.delete()

    response = manage("put", registered, body=replacement(registered, scope="checkout-read"))

    assert response.status_code == 400
    ok = manage("put", registered, body=replacement(registered, scope="profile"))
    assert ok.status_code == 200, ok.content


def test_update_must_name_the_same_client_id(registered):
    for client_id in (None, "someone-else"):
        body = replacement(registered)
        body["client_id"] = client_id

        response = manage("put", registered, body=body)

        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client_metadata"
    assert Application.objects.filter(client_id=registered["client_id"]).exists()


def test_the_client_cannot_choose_its_secret(registered):
    response = manage("put", registered, body={**replacement(registered), "client_secret": "chosen-by-me"})

    assert response.status_code == 400
    application = Application.objects.get(client_id=registered["client_id"])
    assert application.client_secret != "chosen-by-me"


def test_the_client_may_send_its_current_secret(registered):
    body = {
        **replacement(registered, client_name="Same secret"),
        "client_secret": registered["client_secret"],
    }

    response = manage("put", registered, body=body)

    assert response.status_code == 200, response.content
    assert "client_secret" not in response.json()


def test_update_cannot_turn_a_confidential_client_public(registered):
    response = manage("put", registered, body=replacement(registered, token_endpoint_auth_method="none"))

    assert response.status_code == 400
    assert Application.objects.get().client_type == Application.CLIENT_CONFIDENTIAL


def test_update_with_a_bad_redirect_uri_changes_nothing(registered):
    response = manage("put", registered, body=replacement(registered, redirect_uris=["http://evil.example/"]))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"
    assert Application.objects.get().redirect_uris == "https://app.example.org/callback"
    assert not AuditEvent.objects.filter(event=AuditEvent.Event.CLIENT_REGISTRATION_CHANGED).exists()


def test_update_with_garbage_is_a_400(registered):
    response = Client().put(
        registered["registration_client_uri"].removeprefix("https://testserver"),
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {registered['registration_access_token']}",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def test_delete_removes_the_client_and_is_audited(registered):
    response = manage("delete", registered)

    assert response.status_code == 204
    assert not Application.objects.exists()
    assert not ClientRegistration.objects.exists()
    event = AuditEvent.objects.get(event=AuditEvent.Event.CLIENT_REGISTRATION_DELETED)
    assert event.client_id == registered["client_id"]
    assert manage("get", registered).status_code == 401


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_a_wrong_token_is_401_invalid_token(registered, method):
    response = manage(method, registered, token="wrong-token", body=replacement(registered))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["WWW-Authenticate"] == 'Bearer realm="Latch", error="invalid_token"'
    assert Application.objects.filter(client_id=registered["client_id"]).exists()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_another_clients_token_is_401_invalid_token(registered, method):
    other = register(initial_token(), code_client_metadata(client_name="Other")).json()

    response = manage(
        method, registered, token=other["registration_access_token"], body=replacement(registered)
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert Application.objects.get(client_id=registered["client_id"]).name == "Planner"


def test_the_initial_access_token_does_not_manage_the_client():
    token = initial_token(uses=3)
    registered = register(token, code_client_metadata()).json()

    assert manage("get", registered, token=token).status_code == 401
    assert manage("delete", registered, token=token).status_code == 401


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_an_application_an_administrator_made_cannot_be_managed(registered, method):
    application = ApplicationFactory()

    response = manage(
        method, registered, client_id=application.client_id, body={"client_id": application.client_id}
    )

    assert response.status_code == 401
    assert Application.objects.filter(pk=application.pk).exists()


def test_the_client_secret_does_not_manage_the_client(registered):
    assert manage("get", registered, token=registered["client_secret"]).status_code == 401


def test_management_is_off_with_registration(registered, settings):
    settings.LATCH_CLIENT_REGISTRATION = False

    assert manage("get", registered).status_code == 404
    assert manage("delete", registered).status_code == 404
    assert Application.objects.exists()
