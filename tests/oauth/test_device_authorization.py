"""POST /oauth/device_authorization (RFC 8628 §3.1, §3.2): who gets codes, and what is stored."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from apps.oauth import device as device_codes
from apps.oauth.models import Application, DeviceGrant
from apps.oauth.validators import token_checksum
from tests.oauth import device
from tests.oauth.factories import ApplicationFactory, service_application
from tests.oauth.flow import basic_auth

pytestmark = pytest.mark.django_db

USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


@pytest.fixture
def tv():
    return device.device_application()


def error_of(response, status: int = 400) -> str:
    assert response.status_code == status, response.content
    assert "no-store" in response["Cache-Control"]
    return response.json()["error"]


def test_a_public_device_client_gets_codes_and_where_to_send_the_member(tv):
    response = device.start(Client(), tv, "openid member-read")

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert USER_CODE.match(body["user_code"])
    assert body["verification_uri"] == "https://testserver/oauth/device"
    assert (
        body["verification_uri_complete"] == f"https://testserver/oauth/device?user_code={body['user_code']}"
    )
    assert (body["expires_in"], body["interval"]) == (600, 5)
    assert len(body["device_code"]) >= 43
    assert DeviceGrant.objects.get().scope == "openid member-read"


def test_neither_code_is_stored_in_a_form_a_database_leak_would_give_away(tv):
    body = device.codes(tv, "member-read")

    stored = DeviceGrant.objects.values().get()
    assert body["device_code"] not in str(stored)
    assert stored["device_code"] == token_checksum(body["device_code"])
    plain = body["user_code"].replace("-", "")
    assert plain not in str(stored)
    # Keyed: the user code's digest is not its bare SHA-256, which trying all 20^8 codes would reverse.
    assert stored["user_code"] != token_checksum(plain)
    assert stored["user_code"] == device_codes.user_code_digest(plain)


def test_the_user_code_is_compared_without_case_dash_or_spaces():
    assert device_codes.normalised_user_code(" bcdf-ghjk ") == "BCDFGHJK"
    assert device_codes.normalised_user_code("bcdfghjk") == "BCDFGHJK"
    assert device_codes.normalised_user_code("BCDF-GHJ") is None
    assert device_codes.normalised_user_code("BCDF-GHJA") is None  # no vowels in the alphabet
    assert device_codes.normalised_user_code("BCDF-GHJ0") is None  # nor digits


def test_a_confidential_device_client_authenticates_with_http_basic():
    kiosk = device.device_application(client_type=Application.CLIENT_CONFIDENTIAL)

    assert device.start(Client(), kiosk, "member-read").status_code == 200


def test_a_confidential_device_client_without_its_secret_is_refused():
    kiosk = device.device_application(client_type=Application.CLIENT_CONFIDENTIAL)

    response = Client().post("/oauth/device_authorization", {"client_id": kiosk.client_id})

    assert error_of(response, 401) == "invalid_client"
    assert response["WWW-Authenticate"] == 'Basic realm="Latch"'
    assert not DeviceGrant.objects.exists()


def test_a_wrong_secret_is_refused():
    kiosk = device.device_application(client_type=Application.CLIENT_CONFIDENTIAL)

    response = Client().post("/oauth/device_authorization", **basic_auth(kiosk.client_id, "wrong"))

    assert error_of(response, 401) == "invalid_client"
    assert not DeviceGrant.objects.exists()


@pytest.mark.parametrize("client_id", ["", "unknown", "\x00", "é" * 300])
def test_an_unknown_client_is_refused(client_id):
    response = Client().post("/oauth/device_authorization", {"client_id": client_id})

    assert error_of(response, 401) == "invalid_client"
    assert not DeviceGrant.objects.exists()


def test_a_client_not_allowed_the_device_grant_gets_unauthorized_client():
    web_app = ApplicationFactory(client_type=Application.CLIENT_PUBLIC)

    response = Client().post("/oauth/device_authorization", {"client_id": web_app.client_id})

    assert error_of(response) == "unauthorized_client"
    assert not DeviceGrant.objects.exists()


def test_a_client_credentials_app_gets_no_device_codes():
    service = service_application()

    response = Client().post("/oauth/device_authorization", **basic_auth(service.client_id, service.secret))

    assert error_of(response) == "unauthorized_client"


@pytest.mark.parametrize("scope", ["checkout-write", "member-read checkout-write", "no-such-scope"])
def test_a_scope_outside_the_apps_allowed_scopes_is_invalid_scope(tv, scope):
    response = device.start(Client(), tv, scope)

    assert error_of(response) == "invalid_scope"
    assert not DeviceGrant.objects.exists()


def test_an_app_with_no_default_scope_must_name_its_scopes():
    sign_in_only = device.device_application(allowed_scopes=["openid", "profile"])

    assert error_of(device.start(Client(), sign_in_only)) == "invalid_scope"
    assert device.start(Client(), sign_in_only, "openid").status_code == 200


def test_a_repeated_parameter_is_refused(tv):
    response = Client().post(
        "/oauth/device_authorization",
        f"client_id={tv.client_id}&scope=member-read&scope=openid",
        content_type="application/x-www-form-urlencoded",
    )

    assert error_of(response) == "invalid_request"


def test_a_json_body_identifies_no_client(tv):
    response = Client().post(
        "/oauth/device_authorization", {"client_id": tv.client_id}, content_type="application/json"
    )

    assert error_of(response, 401) == "invalid_client"


def test_credentials_in_the_url_are_refused(tv):
    response = Client().post(f"/oauth/device_authorization?client_id={tv.client_id}")

    assert error_of(response) == "invalid_request"


def test_only_post_is_answered(tv):
    assert Client().get("/oauth/device_authorization").status_code == 405


def test_create_client_registers_a_public_device_app():
    out = StringIO()

    call_command(
        "create_client", "Hall TV", "--grant", "device_code", "--client-type", "public",
        "--scopes", "openid member-read", stdout=out,
    )  # fmt: skip

    application = Application.objects.get(name="Hall TV")
    assert application.authorization_grant_type == Application.GRANT_DEVICE_CODE
    assert application.allowed_scopes == ["openid", "member-read"]
    assert application.client_id in out.getvalue()
    response = Client().post("/oauth/device_authorization", {"client_id": application.client_id})
    assert response.status_code == 200, response.content


def test_the_user_code_digest_is_keyed_by_the_secret_key(settings):
    before = device_codes.user_code_digest("BCDFGHJK")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only"

    assert device_codes.user_code_digest("BCDFGHJK") != before


def test_a_user_code_that_collides_with_a_stored_one_is_drawn_again(tv, monkeypatch):
    drawn = iter(["BCDFGHJK", "BCDFGHJK", "ZXWVTSRQ"])
    monkeypatch.setattr(device_codes, "new_user_code", lambda: next(drawn))

    first, second = device.codes(tv, "member-read"), device.codes(tv, "member-read")

    assert (first["user_code"], second["user_code"]) == ("BCDF-GHJK", "ZXWV-TSRQ")
    assert DeviceGrant.objects.count() == 2
