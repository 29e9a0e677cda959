"""private_key_jwt at the other endpoints where clients authenticate: introspection (RFC 7662),
revocation (RFC 7009), pushed authorization requests (RFC 9126) and device authorization
(RFC 8628). The same validator answers each: a good assertion works, a replayed or misdirected
one gets 401 invalid_client."""

import time

import pytest
from django.test import Client

from apps.oauth.models import AccessToken
from tests.oauth.assertions import assertion, assertion_body, pkjwt_application
from tests.oauth.device import DEVICE_GRANT, DEVICE_SCOPES, answer
from tests.oauth.factories import REDIRECT_URI, pkce_pair

pytestmark = pytest.mark.django_db

PAR_URL = "https://testserver/oauth/par"


def token_for(application) -> str:
    body = {
        "grant_type": "client_credentials",
        "scope": "member-read",
        **assertion_body(assertion(application)),
    }
    response = Client().post("/oauth/token", body)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def assert_invalid_client(response) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "invalid_client"


@pytest.fixture
def service():
    return pkjwt_application()


def test_introspection_authenticates_the_client_by_its_assertion(service):
    token = token_for(service)

    response = Client().post("/oauth/introspect", {"token": token, **assertion_body(assertion(service))})

    assert response.status_code == 200
    assert response.json()["active"] is True
    assert response.json()["client_id"] == service.client_id


def test_introspection_refuses_a_replayed_assertion(service):
    token = token_for(service)
    signed = assertion(service)
    assert Client().post("/oauth/introspect", {"token": token, **assertion_body(signed)}).status_code == 200

    assert_invalid_client(Client().post("/oauth/introspect", {"token": token, **assertion_body(signed)}))


def test_introspection_refuses_an_assertion_for_the_par_endpoint(service):
    token = token_for(service)
    body = {"token": token, **assertion_body(assertion(service, aud=PAR_URL))}

    assert_invalid_client(Client().post("/oauth/introspect", body))


def test_revocation_authenticates_the_client_by_its_assertion(service):
    token = token_for(service)

    response = Client().post("/oauth/revoke", {"token": token, **assertion_body(assertion(service))})

    assert response.status_code == 200
    assert not AccessToken.objects.exists()


def test_revocation_refuses_a_bad_assertion_and_revokes_nothing(service):
    token = token_for(service)
    body = {"token": token, **assertion_body(assertion(service, aud="https://evil.example.org"))}

    assert_invalid_client(Client().post("/oauth/revoke", body))
    assert AccessToken.objects.count() == 1


@pytest.fixture
def web_app():
    return pkjwt_application(grant_type="authorization_code", allowed_scopes=["openid", "member-read"])


def push(application, signed: str):
    _verifier, challenge = pkce_pair()
    body = {
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid member-read",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **assertion_body(signed),
    }
    return Client().post("/oauth/par", body)


@pytest.mark.parametrize("aud", ["https://testserver", "https://testserver/oauth/token", PAR_URL])
def test_par_accepts_the_issuer_the_token_endpoint_and_its_own_url_as_audience(web_app, aud):
    response = push(web_app, assertion(web_app, aud=aud))

    assert response.status_code == 201, response.content
    assert response.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")


def test_par_refuses_a_replayed_assertion(web_app):
    signed = assertion(web_app)
    assert push(web_app, signed).status_code == 201

    assert_invalid_client(push(web_app, signed))


def test_par_refuses_an_expired_assertion(web_app):
    assert_invalid_client(push(web_app, assertion(web_app, exp=int(time.time()) - 60)))


@pytest.fixture
def confidential_device():
    return pkjwt_application(grant_type="device_code", allowed_scopes=list(DEVICE_SCOPES))


def test_device_authorization_authenticates_the_client_by_its_assertion(confidential_device):
    body = {"scope": "openid member-read", **assertion_body(assertion(confidential_device))}

    response = Client().post("/oauth/device_authorization", body)

    assert response.status_code == 200, response.content
    assert response.json()["device_code"]


def test_device_authorization_refuses_a_private_key_jwt_app_naming_itself_only(confidential_device):
    response = Client().post(
        "/oauth/device_authorization", {"scope": "openid", "client_id": confidential_device.client_id}
    )

    assert_invalid_client(response)


def test_device_authorization_refuses_a_replayed_assertion(confidential_device):
    signed = assertion(confidential_device)
    first = Client().post("/oauth/device_authorization", {"scope": "openid", **assertion_body(signed)})
    assert first.status_code == 200

    assert_invalid_client(
        Client().post("/oauth/device_authorization", {"scope": "openid", **assertion_body(signed)})
    )


def test_a_private_key_jwt_device_polls_with_an_assertion_and_never_by_its_client_id_alone(
    confidential_device, browser
):
    """Its stored secret is empty: a poll naming only its client_id would otherwise pass as the
    public client's poll does (RFC 8628 §3.4)."""
    started = Client().post(
        "/oauth/device_authorization",
        {"scope": "openid member-read", **assertion_body(assertion(confidential_device))},
    )
    codes = started.json()
    assert answer(browser, codes["user_code"], allow=True).status_code == 200
    poll = {"grant_type": DEVICE_GRANT, "device_code": codes["device_code"]}

    by_client_id = Client().post("/oauth/token", {**poll, "client_id": confidential_device.client_id})
    by_assertion = Client().post("/oauth/token", {**poll, **assertion_body(assertion(confidential_device))})

    assert_invalid_client(by_client_id)
    assert by_assertion.status_code == 200, by_assertion.content
    assert by_assertion.json()["access_token"]
