import pytest
from django.test import Client

from apps.oauth.models import AccessToken
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db


def test_client_credentials_issues_an_app_token_without_refresh_token():
    application = service_application(allowed_scopes=["member-read", "checkout-read"])

    response = flow.client_credentials(Client(), application, scope="checkout-read")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "checkout-read"
    assert body["token_type"] == "Bearer"
    assert isinstance(body["created_at"], int)
    assert "refresh_token" not in body
    assert "member" not in body
    assert "admin" not in body
    token = AccessToken.objects.get()
    assert token.user is None
    assert token.application == application


def test_client_credentials_without_scope_gets_the_allowed_defaults():
    application = service_application(allowed_scopes=["member-read", "checkout-read"])

    body = flow.client_credentials(Client(), application).json()

    # member-read is a default scope, checkout-read is not.
    assert body["scope"] == "member-read"


def test_client_credentials_without_any_default_scope_is_invalid_scope():
    application = service_application(allowed_scopes=["checkout-read"])

    response = flow.client_credentials(Client(), application)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


def test_client_credentials_with_scope_outside_the_allowed_set_is_refused():
    application = service_application(allowed_scopes=["member-read"])

    response = flow.client_credentials(Client(), application, scope="member-read checkout-write")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


def test_wrong_secret_is_invalid_client():
    application = service_application()

    response = Client().post(
        "/oauth/token",
        {"grant_type": "client_credentials", "scope": "member-read"},
        **flow.basic_auth(application.client_id, application.secret + "x"),
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert not AccessToken.objects.exists()


def test_authorization_code_app_may_not_use_client_credentials():
    from tests.oauth.factories import ApplicationFactory

    application = ApplicationFactory()

    response = flow.client_credentials(Client(), application, scope="member-read")

    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
