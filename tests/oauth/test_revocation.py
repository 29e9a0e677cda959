"""RFC 7009 token revocation at /oauth/revoke."""

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, RefreshToken
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, public_application

pytestmark = pytest.mark.django_db


def issue(browser, application, scope: str = "openid offline_access") -> dict:
    code, verifier = flow.get_code(browser, application, scope)
    response = flow.redeem(Client(), application, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def revoke(application, token: str, **data):
    return Client().post("/oauth/revoke", {"token": token, **data}, **flow.app_auth(application))


def userinfo(access_token: str):
    return Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}")


def assert_access_token_works(access_token: str, member) -> None:
    response = userinfo(access_token)
    assert response.status_code == 200, response.content
    assert response.json()["sub"] == str(member.public_id)


def assert_access_token_rejected(access_token: str) -> None:
    response = userinfo(access_token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="Latch", error="invalid_token"')
    assert b"sub" not in response.content


def assert_refresh_refused(application, refresh_token: str) -> None:
    response = flow.refresh(Client(), application, refresh_token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_revoking_an_access_token_stops_it_and_its_refresh_token(browser, application, member):
    body = issue(browser, application)
    assert_access_token_works(body["access_token"], member)

    response = revoke(application, body["access_token"])

    assert response.status_code == 200
    assert response.content == b""
    assert_access_token_rejected(body["access_token"])
    assert not AccessToken.objects.exists()
    assert RefreshToken.objects.get().revoked is not None
    assert_refresh_refused(application, body["refresh_token"])


@pytest.mark.django_db(transaction=True)
def test_revoking_outside_a_transaction_as_in_production_answers_200(browser, application):
    """Requests run in autocommit; the other tests run inside the test's transaction, which hid a
    select_for_update outside any transaction (a 500 after the token was already revoked)."""
    body = issue(browser, application)

    response = revoke(application, body["refresh_token"], token_type_hint="refresh_token")

    assert response.status_code == 200
    assert RefreshToken.objects.get().revoked is not None
    assert not AccessToken.objects.exists()


def test_revoking_an_access_token_with_its_hint(browser, application):
    body = issue(browser, application)

    response = revoke(application, body["access_token"], token_type_hint="access_token")

    assert response.status_code == 200
    assert_access_token_rejected(body["access_token"])
    assert_refresh_refused(application, body["refresh_token"])


def test_revoking_a_refresh_token_revokes_it_and_its_access_token(browser, application):
    body = issue(browser, application)

    response = revoke(application, body["refresh_token"])

    assert response.status_code == 200
    assert RefreshToken.objects.get().revoked is not None
    assert not AccessToken.objects.exists()
    assert_access_token_rejected(body["access_token"])
    assert_refresh_refused(application, body["refresh_token"])


def test_token_type_hint_refresh_token_revokes_the_refresh_token(browser, application):
    body = issue(browser, application)

    response = revoke(application, body["refresh_token"], token_type_hint="refresh_token")

    assert response.status_code == 200
    assert RefreshToken.objects.get().revoked is not None
    assert_access_token_rejected(body["access_token"])
    assert_refresh_refused(application, body["refresh_token"])


def test_a_wrong_token_type_hint_still_revokes_the_token(browser, application):
    body = issue(browser, application)

    response = revoke(application, body["access_token"], token_type_hint="refresh_token")

    assert response.status_code == 200
    assert_access_token_rejected(body["access_token"])


def test_another_client_cannot_revoke_a_token_it_was_not_issued(browser, application, member):
    body = issue(browser, application)
    other = ApplicationFactory(name="Someone else")

    by_access = revoke(other, body["access_token"])
    by_refresh = revoke(other, body["refresh_token"], token_type_hint="refresh_token")

    # RFC 7009 §2.1/§2.2: the server checks the token was issued to the caller, and answers 200
    # without saying whether it exists.
    assert by_access.status_code == 200
    assert by_refresh.status_code == 200
    assert_access_token_works(body["access_token"], member)
    assert RefreshToken.objects.get().revoked is None
    refreshed = flow.refresh(Client(), application, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content


def test_unknown_token_answers_200(application):
    response = revoke(application, "not-a-token-latch-ever-issued")

    assert response.status_code == 200
    assert response.content == b""


def test_wrong_client_secret_is_refused_with_invalid_client(browser, application, member):
    body = issue(browser, application)

    response = Client().post(
        "/oauth/revoke",
        {"token": body["access_token"]},
        **flow.basic_auth(application.client_id, "not-the-secret"),
    )

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert_access_token_works(body["access_token"], member)


def test_confidential_client_must_authenticate_to_revoke(browser, application, member):
    body = issue(browser, application)

    response = Client().post(
        "/oauth/revoke", {"token": body["access_token"], "client_id": application.client_id}
    )

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert_access_token_works(body["access_token"], member)


def test_client_secret_post_authenticates_revocation(browser, application):
    body = issue(browser, application)

    response = Client().post(
        "/oauth/revoke",
        {
            "token": body["access_token"],
            "client_id": application.client_id,
            "client_secret": application.secret,
        },
    )

    assert response.status_code == 200
    assert_access_token_rejected(body["access_token"])


def test_public_client_revokes_its_own_token_with_client_id_only(browser):
    application = public_application()
    body = issue(browser, application, "openid offline_access")

    response = Client().post(
        "/oauth/revoke", {"token": body["access_token"], "client_id": application.client_id}
    )

    assert response.status_code == 200
    assert_access_token_rejected(body["access_token"])
    assert_refresh_refused(application, body["refresh_token"])


def test_public_client_cannot_revoke_another_clients_token(browser, application, member):
    body = issue(browser, application)
    public = public_application()

    response = Client().post("/oauth/revoke", {"token": body["access_token"], "client_id": public.client_id})

    assert response.status_code == 200
    assert_access_token_works(body["access_token"], member)


def test_missing_token_is_invalid_request(application):
    response = Client().post("/oauth/revoke", {}, **flow.app_auth(application))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_token_sent_twice_is_invalid_request(browser, application, member):
    body = issue(browser, application)

    response = Client().post(
        "/oauth/revoke", {"token": [body["access_token"], "other"]}, **flow.app_auth(application)
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert_access_token_works(body["access_token"], member)
