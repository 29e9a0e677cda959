"""A registered client works like any other: it signs a member in, reads, updates and deletes itself."""

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, Application, Grant, RefreshToken
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import pkce_pair
from tests.registration.factories import code_client_metadata, initial_token, manage, register

pytestmark = pytest.mark.django_db


def as_application(registered: dict) -> Application:
    """The stored application with its secret on `.secret`, as tests/oauth/flow.py expects."""
    application = Application.objects.get(client_id=registered["client_id"])
    application.secret = registered.get("client_secret")
    return application


def test_register_sign_a_member_in_read_update_delete_and_its_tokens_are_gone():
    registered = register(initial_token(), code_client_metadata()).json()
    application = as_application(registered)
    member = UserFactory()

    tokens = flow.obtain_tokens(member, application, "openid member-read offline_access")

    assert tokens["access_token"]
    assert tokens["refresh_token"]
    assert AccessToken.objects.filter(application=application).count() == 1
    assert manage("get", registered).json()["scope"] == "openid offline_access member-read"
    updated = manage(
        "put",
        registered,
        body={"client_id": application.client_id, **code_client_metadata(client_name="Renamed")},
    )
    assert updated.status_code == 200, updated.content

    assert manage("delete", registered).status_code == 204

    assert not AccessToken.objects.filter(application_id=application.pk).exists()
    assert not RefreshToken.objects.filter(application_id=application.pk).exists()
    assert not Grant.objects.filter(application_id=application.pk).exists()
    refreshed = flow.refresh(Client(), application, tokens["refresh_token"])
    assert refreshed.status_code == 401  # the client itself is gone
    api = Client().get("/api/v1/members/me", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert api.status_code == 401


def test_a_registered_client_must_send_pkce():
    registered = register(initial_token(), code_client_metadata()).json()
    application = as_application(registered)
    browser = Client()
    browser.force_login(UserFactory())

    response = flow.consent_page(browser, application, "openid member-read", challenge=None)

    assert response.status_code == 302
    assert "error=invalid_request" in response["Location"]


def test_a_registered_client_gets_no_scope_beyond_its_registration():
    registered = register(
        initial_token(), code_client_metadata(scope="openid member-read offline_access")
    ).json()
    application = as_application(registered)
    browser = Client()
    browser.force_login(UserFactory())

    response = flow.consent_page(browser, application, "openid profile", pkce_pair()[1])

    assert response.status_code == 302
    assert "error=invalid_scope" in response["Location"]


def test_a_registered_public_client_runs_the_code_flow_without_a_secret():
    registered = register(initial_token(), code_client_metadata(token_endpoint_auth_method="none")).json()
    application = as_application(registered)
    browser = Client()
    browser.force_login(UserFactory())
    code, verifier = flow.get_code(browser, application, "openid member-read")

    response = flow.redeem(Client(), application, code, verifier)

    assert response.status_code == 200, response.content


def test_a_registered_service_gets_client_credentials_tokens_and_loses_them_when_deleted():
    token = initial_token(["member-read", "checkout-read"])
    registered = register(token, {"grant_types": ["client_credentials"], "scope": "member-read"}).json()
    application = as_application(registered)

    response = flow.client_credentials(Client(), application)

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "member-read"
    refused = flow.client_credentials(Client(), application, scope="checkout-read")
    assert refused.status_code == 400  # in the ceiling, but not registered
    assert refused.json()["error"] == "invalid_scope"
    assert manage("delete", registered).status_code == 204
    assert not AccessToken.objects.exists()
    assert flow.client_credentials(Client(), application).status_code == 401
