"""The device authorization grant end to end through Django's test client (RFC 8628)."""

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from tests.oauth import device

pytestmark = pytest.mark.django_db


@pytest.fixture
def tv():
    return device.device_application(name="Living-room TV")


def test_an_approved_device_gets_the_members_tokens_once(browser, member, tv):
    issued = device.codes(tv, "openid profile member-read offline_access")

    assert device.poll(Client(), tv, issued["device_code"]).json()["error"] == "authorization_pending"
    done = device.answer(browser, issued["user_code"].lower().replace("-", ""), allow=True)
    assert done.status_code == 200
    assert b"is connected" in done.content

    tokens = device.poll(Client(), tv, issued["device_code"])
    assert tokens.status_code == 200, tokens.content
    body = tokens.json()
    assert body["scope"] == "openid profile member-read offline_access"
    assert {"access_token", "refresh_token", "id_token"} <= set(body)
    assert body["member"]["email"] == member.email
    userinfo = Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert userinfo.json()["sub"] == str(member.public_id)
    events = AuditEvent.objects.values_list("event", flat=True)
    assert AuditEvent.Event.CONSENT_GRANTED in events
    assert AuditEvent.Event.TOKEN_ISSUED in events
