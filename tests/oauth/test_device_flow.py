"""The device authorization grant end to end through Django's test client (RFC 8628).

The device asks for codes, polls the token endpoint, and the member answers at /oauth/device.
"""

import inspect
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from jwcrypto import jwk, jwt
from oauthlib.oauth2.rfc8628.grant_types import DeviceCodeGrant

from apps.audit.models import AuditEvent
from apps.oauth.models import AccessToken, Consent, DeviceGrant, IDToken, RefreshToken
from tests.oauth import device
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tv():
    return device.device_application(name="Living-room TV")


def published_key() -> jwk.JWK:
    (key,) = Client().get("/oauth/jwks").json()["keys"]
    return jwk.JWK(**key)


def error_of(response) -> str:
    assert response.status_code == 400, response.content
    return response.json()["error"]


def approved(browser, application, scope: str) -> dict:
    """Codes for `application` that the signed-in member of `browser` has allowed."""
    issued = device.codes(application, scope)
    assert device.answer(browser, issued["user_code"], allow=True).status_code == 200
    return issued


# --- The way it should go ----------------------------------------------------------------------


def test_an_approved_device_gets_the_members_tokens(browser, member, tv):
    issued = device.codes(tv, "openid profile member-read offline_access")

    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "authorization_pending"
    done = device.answer(browser, issued["user_code"].lower().replace("-", ""), allow=True)
    assert done.status_code == 200
    assert b"Living-room TV is connected" in done.content

    tokens = device.poll(Client(), tv, issued["device_code"])
    assert tokens.status_code == 200, tokens.content
    body = tokens.json()
    assert body["scope"] == "openid profile member-read offline_access"
    assert {"access_token", "refresh_token", "id_token"} <= set(body)
    assert body["member"]["email"] == member.email
    userinfo = Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert userinfo.json()["sub"] == str(member.public_id)
    access = AccessToken.objects.get()
    assert (access.user, access.application) == (member, tv)
    assert access.token_family == DeviceGrant.objects.get().token_family


def test_the_id_token_names_the_member_and_how_they_signed_in(password_browser, member, tv):
    issued = approved(password_browser, tv, "openid profile")

    body = device.poll(Client(), tv, issued["device_code"], nonce="sent-by-the-device").json()

    check = {"iss": "https://testserver", "aud": tv.client_id, "exp": None, "iat": None, "sub": None}
    claims = json.loads(jwt.JWT(key=published_key(), jwt=body["id_token"], check_claims=check).claims)
    assert claims["sub"] == str(member.public_id)
    assert claims["name"] == "Ada Lovelace"
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:latch:acr:password"
    assert "at_hash" in claims
    # A nonce belongs to an authorization request; a device sends none Latch would honour.
    assert "nonce" not in claims
    assert AccessToken.objects.get().id_token == IDToken.objects.get()


def test_oauthlibs_device_grant_applies_no_token_modifiers_so_latch_adds_the_id_token():
    """Pins oauthlib 3.3.1: were it to apply the OIDC modifiers, the id_token would be added twice
    (apps/oauth/device_validator.py _DeviceIdToken)."""
    assert "_token_modifiers" not in inspect.getsource(DeviceCodeGrant.create_token_response)


def test_without_openid_there_is_no_id_token_and_without_offline_access_no_refresh_token(browser, tv):
    issued = approved(browser, tv, "member-read")

    body = device.poll(Client(), tv, issued["device_code"]).json()

    assert body["scope"] == "member-read"
    assert "id_token" not in body
    assert "refresh_token" not in body


def test_no_scope_asked_gives_the_apps_default_scopes(browser, tv):
    issued = approved(browser, tv, None)

    assert device.poll(Client(), tv, issued["device_code"]).json()["scope"] == "member-read activity-read"


def test_a_confidential_device_client_authenticates_with_its_secret(browser):
    kiosk = device.device_application(client_type="confidential")
    issued = approved(browser, kiosk, "member-read")

    assert device.poll(Client(), kiosk, issued["device_code"]).status_code == 200


def test_the_device_refreshes_its_tokens_like_any_app(browser, tv):
    issued = approved(browser, tv, "member-read offline_access")
    body = device.poll(Client(), tv, issued["device_code"]).json()

    refreshed = Client().post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": tv.client_id},
    )

    assert refreshed.status_code == 200, refreshed.content
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 1


def test_allow_and_token_issue_are_audited_and_the_app_becomes_a_connected_app(browser, member, tv):
    issued = approved(browser, tv, "member-read")
    device.poll(Client(), tv, issued["device_code"])

    events = dict(AuditEvent.objects.values_list("event", "details"))
    assert events[AuditEvent.Event.CONSENT_GRANTED]["scope"] == "member-read"
    assert events[AuditEvent.Event.TOKEN_ISSUED]["grant_type"] == device.DEVICE_GRANT
    assert Consent.objects.get(user=member, application=tv).scopes == ["member-read"]


# --- The device's failures ---------------------------------------------------------------------


def test_polling_faster_than_the_interval_slows_the_device_down_by_five_seconds_each_time(tv):
    issued = device.codes(tv, "member-read")
    assert issued["interval"] == 5

    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "authorization_pending"
    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "slow_down"
    assert DeviceGrant.objects.get().interval == 10

    # Six seconds later is past the first interval but not the raised one.
    DeviceGrant.objects.update(polled_at=timezone.now() - timedelta(seconds=6))
    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "slow_down"
    assert DeviceGrant.objects.get().interval == 15

    DeviceGrant.objects.update(polled_at=timezone.now() - timedelta(seconds=16))
    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "authorization_pending"
    assert DeviceGrant.objects.get().interval == 15


def test_an_expired_device_code_is_refused_and_its_user_code_no_longer_accepted(browser, tv):
    issued = device.codes(tv, "member-read")
    DeviceGrant.objects.update(expires=timezone.now() - timedelta(seconds=1))

    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "expired_token"
    assert device.enter_code(browser, issued["user_code"]).status_code == 400


def test_an_approval_that_expired_before_the_device_polled_gives_nothing(browser, tv):
    issued = approved(browser, tv, "member-read")
    DeviceGrant.objects.update(expires=timezone.now() - timedelta(seconds=1))

    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "expired_token"
    assert not AccessToken.objects.exists()


def test_a_denied_device_is_told_access_denied_on_every_poll(browser, tv):
    issued = device.codes(tv, "member-read")

    done = device.answer(browser, issued["user_code"], allow=False)

    assert b"was refused" in done.content
    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "access_denied"
    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "access_denied"
    assert not AccessToken.objects.exists()
    assert AuditEvent.objects.filter(event=AuditEvent.Event.CONSENT_DENIED).exists()
    assert not Consent.objects.exists()


def test_a_device_code_gives_tokens_once(browser, tv):
    issued = approved(browser, tv, "member-read offline_access")
    assert device.poll(Client(), tv, issued["device_code"]).status_code == 200

    again = device.poll(Client(), tv, issued["device_code"])

    assert error_of(again) == "invalid_grant"
    assert AccessToken.objects.count() == 1
    assert AuditEvent.objects.filter(event=AuditEvent.Event.AUTHORIZATION_CODE_REUSED).exists()


def test_another_client_cannot_redeem_the_device_code(browser, tv):
    issued = approved(browser, tv, "member-read")
    other = device.device_application()

    assert error_of(device.poll(Client(), other, issued["device_code"])) == "invalid_grant"
    assert device.poll(Client(), tv, issued["device_code"]).status_code == 200


def test_a_client_not_allowed_the_device_grant_cannot_poll(browser, tv):
    issued = approved(browser, tv, "member-read")
    web_app = ApplicationFactory()

    response = device.poll(Client(), web_app, issued["device_code"])

    assert error_of(response) == "unauthorized_client"
    assert not AccessToken.objects.exists()


def test_a_confidential_device_client_with_a_wrong_secret_is_refused(browser):
    kiosk = device.device_application(client_type="confidential")
    issued = approved(browser, kiosk, "member-read")
    kiosk.secret = "wrong"

    response = device.poll(Client(), kiosk, issued["device_code"])

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"device_code": ""}, "invalid_request"),
        ({"device_code": "not-a-device-code"}, "invalid_grant"),
        ({"device_code": "\x00"}, "invalid_grant"),
        ({"device_code": "é" * 5000}, "invalid_grant"),
    ],
)
def test_garbage_device_codes_are_refused_with_the_rfc_error(tv, data, error):
    response = Client().post(
        "/oauth/token", {"grant_type": device.DEVICE_GRANT, "client_id": tv.client_id, **data}
    )

    assert error_of(response) == error
    assert not AccessToken.objects.exists()


def test_a_repeated_device_code_parameter_is_refused(browser, tv):
    issued = approved(browser, tv, "member-read")

    response = Client().post(
        "/oauth/token",
        f"grant_type={device.DEVICE_GRANT}&client_id={tv.client_id}"
        f"&device_code={issued['device_code']}&device_code=other",
        content_type="application/x-www-form-urlencoded",
    )

    assert error_of(response) == "invalid_request"
    assert device.poll(Client(), tv, issued["device_code"]).status_code == 200


def test_a_deactivated_member_s_approval_gives_no_tokens(browser, member, tv):
    issued = approved(browser, tv, "member-read")
    member.is_active = False
    member.save()

    assert error_of(device.poll(Client(), tv, issued["device_code"])) == "invalid_grant"


def test_a_scope_withdrawn_from_the_app_after_approval_is_not_issued(browser, tv):
    issued = approved(browser, tv, "member-read activity-read")
    tv.allowed_scopes = ["member-read"]
    tv.save()

    assert device.poll(Client(), tv, issued["device_code"]).json()["scope"] == "member-read"
