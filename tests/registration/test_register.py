"""POST /oauth/register (RFC 7591 §3): who may register, and what a registered client gets."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.oauth.models import Application
from apps.registration import services
from apps.registration.models import ClientRegistration, InitialAccessToken
from tests.registration.factories import REDIRECT_URI, code_client_metadata, initial_token, register

pytestmark = pytest.mark.django_db


def test_a_registration_gets_credentials_and_its_metadata_as_stored():
    token = initial_token()

    response = register(
        token, code_client_metadata(client_uri="https://planner.example.org/", unknown_field=1)
    )

    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    application = Application.objects.get(client_id=body["client_id"])
    assert body["client_secret"]
    assert body["client_secret_expires_at"] == 0
    assert isinstance(body["client_id_issued_at"], int)
    assert body["registration_access_token"]
    assert body["registration_client_uri"] == f"https://testserver/oauth/register/{application.client_id}"
    assert body["redirect_uris"] == [REDIRECT_URI]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["scope"] == "openid offline_access member-read"
    assert body["client_name"] == "Planner"
    assert body["client_uri"] == "https://planner.example.org/"
    assert "unknown_field" not in body  # RFC 7591 §2: ignored, not echoed


def test_a_registered_client_is_stored_safely_and_without_special_powers():
    token = initial_token()

    body = register(token, code_client_metadata()).json()

    application = Application.objects.get(client_id=body["client_id"])
    assert application.client_type == Application.CLIENT_CONFIDENTIAL
    assert application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert application.token_endpoint_auth_method == "client_secret_basic"
    assert application.registration_source == Application.RegistrationSource.DCR
    assert not application.skip_authorization
    assert not application.is_resource_server
    assert not application.pkce_optional
    assert body["client_secret"] not in application.client_secret  # a digest only
    registration = ClientRegistration.objects.get(application=application)
    assert registration.registration_access_token != body["registration_access_token"]
    assert len(registration.registration_access_token) == 64
    stored = InitialAccessToken.objects.get()
    assert stored.token != token
    assert stored.uses == 1


@pytest.mark.parametrize("name", [..., "", "   ", None])
def test_an_app_members_are_asked_to_allow_must_have_a_name(name):
    response = register(initial_token(), code_client_metadata(client_name=name))

    assert response.status_code == 400
    assert "client_name" in response.json()["error_description"]
    assert not Application.objects.exists()


def test_a_public_client_has_no_secret():
    body = register(initial_token(), code_client_metadata(token_endpoint_auth_method="none")).json()

    assert "client_secret" not in body
    assert "client_secret_expires_at" not in body
    application = Application.objects.get(client_id=body["client_id"])
    assert application.client_type == Application.CLIENT_PUBLIC
    assert application.token_endpoint_auth_method == "none"


def test_without_scope_the_client_gets_the_tokens_default_scopes():
    token = initial_token(["openid", "member-read", "activity-read", "checkout-read"])

    body = register(token, code_client_metadata(scope=...)).json()

    assert body["scope"] == "member-read activity-read"  # the ceiling ∩ the registry's defaults
    assert body["grant_types"] == ["authorization_code"]  # no offline_access: no refresh tokens


def test_without_scope_and_no_default_in_the_ceiling_it_is_refused():
    response = register(initial_token(["openid", "checkout-read"]), code_client_metadata(scope=...))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert not Application.objects.exists()


def test_asking_for_a_scope_beyond_the_initial_token_is_refused_and_spends_nothing():
    token = initial_token(["openid", "member-read"])

    response = register(token, code_client_metadata(scope="openid member-read checkout-write"))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert "checkout-write" in response.json()["error_description"]
    assert not Application.objects.exists()
    assert InitialAccessToken.objects.get().uses == 0


def test_asking_for_an_unknown_scope_is_refused():
    response = register(initial_token(), code_client_metadata(scope="openid admin"))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def test_a_client_credentials_client_is_refused_member_only_scopes():
    token = initial_token(["openid", "member-read"])
    metadata = {"grant_types": ["client_credentials"], "scope": "openid member-read"}

    response = register(token, metadata)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert response.json()["error_description"].startswith("scope:")


def test_a_client_credentials_client_registers_without_redirect_uris():
    token = initial_token(["member-read", "checkout-read"])

    response = register(token, {"grant_types": ["client_credentials"], "scope": "member-read"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["grant_types"] == ["client_credentials"]
    assert "response_types" not in body
    assert "redirect_uris" not in body


def test_a_device_client_registers_as_a_public_client():
    token = initial_token()
    metadata = {
        "client_name": "Kiosk display",
        "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": "openid offline_access",
    }

    response = register(token, metadata)

    assert response.status_code == 201, response.content
    application = Application.objects.get(client_id=response.json()["client_id"])
    assert application.authorization_grant_type == Application.GRANT_DEVICE_CODE


def test_a_registration_is_audited_without_its_secrets():
    body = register(initial_token(), code_client_metadata()).json()

    event = AuditEvent.objects.get(event=AuditEvent.Event.CLIENT_REGISTERED)
    assert event.client_id == body["client_id"]
    assert event.details["scopes"] == ["openid", "offline_access", "member-read"]
    stored = json.dumps(event.details)
    assert body["client_secret"] not in stored
    assert body["registration_access_token"] not in stored


def test_a_multi_use_token_registers_that_many_clients_and_no_more():
    token = initial_token(uses=2)

    statuses = [register(token, code_client_metadata()).status_code for _ in range(3)]

    assert statuses == [201, 201, 401]
    assert Application.objects.count() == 2


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "bearer-nope", "Bearer " + "x" * 43],
)
def test_without_a_valid_initial_token_it_is_401_invalid_token(header):
    initial_token()
    headers = {"HTTP_AUTHORIZATION": header} if header is not None else {}

    response = register(None, code_client_metadata(), **headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Application.objects.exists()


def test_a_token_in_the_query_string_is_refused():
    token = initial_token()

    response = Client().post(
        f"/oauth/register?access_token={token}",
        json.dumps(code_client_metadata()),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert not Application.objects.exists()


def test_an_expired_token_is_refused():
    token = initial_token()
    InitialAccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))

    response = register(token, code_client_metadata())

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["WWW-Authenticate"] == 'Bearer realm="Latch", error="invalid_token"'


def test_a_revoked_token_is_refused():
    token = initial_token(uses=5)
    services.initial_token_revoke(InitialAccessToken.objects.get(), actor_label="tests")

    assert register(token, code_client_metadata()).status_code == 401
    assert not Application.objects.exists()


def test_a_spent_single_use_token_is_refused():
    token = initial_token()
    assert register(token, code_client_metadata()).status_code == 201

    response = register(token, code_client_metadata())

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert Application.objects.count() == 1


def test_a_bad_token_and_bad_metadata_is_a_401_first():
    response = register("wrong", "not json")

    assert response.status_code == 401


def test_registration_is_off_unless_turned_on(settings):
    settings.LATCH_CLIENT_REGISTRATION = False
    token = initial_token()

    response = register(token, code_client_metadata())

    assert response.status_code == 404
    assert not Application.objects.exists()
    assert Client().get("/.well-known/openid-configuration").json().get("registration_endpoint") is None


def test_discovery_names_the_registration_endpoint():
    metadata = Client().get("/.well-known/oauth-authorization-server").json()

    assert metadata["registration_endpoint"] == "https://testserver/oauth/register"


def test_only_post_is_allowed():
    assert Client().get("/oauth/register").status_code == 405
