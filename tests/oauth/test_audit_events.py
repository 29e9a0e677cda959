"""The protocol's security events land in the audit log, with who, from where, and never a secret."""

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, service_application

pytestmark = pytest.mark.django_db


def events(name: str):
    return list(AuditEvent.objects.filter(event=name).order_by("pk"))


@pytest.fixture
def signed_in():
    member = UserFactory()
    browser = Client(REMOTE_ADDR="198.51.100.20")
    browser.force_login(member)
    return member, browser


def test_token_issued_records_grant_type_client_member_and_address(signed_in):
    member, browser = signed_in
    application = ApplicationFactory()
    code, verifier = flow.get_code(browser, application, "member-read offline_access")

    tokens = flow.redeem(Client(REMOTE_ADDR="192.0.2.5"), application, code, verifier).json()

    (issued,) = events("token.issued")
    assert issued.actor_user == member
    assert issued.client_id == application.client_id
    assert str(issued.ip) == "192.0.2.5"
    assert issued.details == {
        "grant_type": "authorization_code",
        "scope": "member-read offline_access",
        "with_refresh": True,
    }
    assert tokens["access_token"] not in str(issued.details)


def test_client_credentials_token_is_recorded_for_the_client():
    application = service_application()

    flow.client_credentials(Client(), application, scope="member-read")

    (issued,) = events("token.issued")
    assert issued.actor_type == "client"
    assert issued.actor_user is None
    assert issued.details["grant_type"] == "client_credentials"


def test_refresh_token_reuse_is_recorded(signed_in):
    _, browser = signed_in
    application = ApplicationFactory()
    code, verifier = flow.get_code(browser, application, "member-read offline_access")
    first = flow.redeem(Client(), application, code, verifier).json()
    flow.refresh(Client(), application, first["refresh_token"])

    flow.refresh(Client(), application, first["refresh_token"])

    (reused,) = events("refresh_token.reused")
    assert reused.client_id == application.client_id
    assert reused.details["action"] == "revoked the token family"
    assert reused.details["family"]


def test_authorization_code_reuse_is_recorded(signed_in):
    member, browser = signed_in
    application = ApplicationFactory()
    code, verifier = flow.get_code(browser, application, "member-read")
    flow.redeem(Client(), application, code, verifier)

    flow.redeem(Client(), application, code, verifier)

    (reused,) = events("authorization_code.reused")
    assert reused.details["member"] == str(member.public_id)
    assert code not in str(reused.details)


def test_consent_granted_and_denied_are_recorded(signed_in):
    member, browser = signed_in
    application = ApplicationFactory()
    _, challenge = flow.pkce_pair()

    flow.submit_consent(browser, application, "member-read", challenge, allow=True)
    flow.submit_consent(browser, application, "member-read", challenge, allow=False, prompt="consent")

    consents = AuditEvent.objects.filter(event__startswith="consent.").order_by("pk")
    assert [(e.event, e.actor_user, e.client_id, e.details["scope"]) for e in consents] == [
        ("consent.granted", member, application.client_id, "member-read"),
        ("consent.denied", member, application.client_id, "member-read"),
    ]


def test_client_authentication_failure_and_throttling_are_recorded(settings):
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT = 1
    application = service_application()
    wrong = flow.basic_auth(application.client_id, "wrong")

    Client(REMOTE_ADDR="203.0.113.9").post("/oauth/token", {"grant_type": "client_credentials"}, **wrong)
    Client(REMOTE_ADDR="203.0.113.9").post("/oauth/token", {"grant_type": "client_credentials"}, **wrong)

    failed = events("client_auth.failed")
    assert [(e.client_id, str(e.ip), e.details) for e in failed] == [
        (application.client_id, "203.0.113.9", {"path": "/oauth/token"})
    ] * 2
    (throttled,) = events("throttled")
    assert throttled.client_id == application.client_id
    assert throttled.details["path"] == "/oauth/token"


def test_revocation_is_recorded():
    application = service_application()
    token = flow.client_credentials(Client(), application).json()["access_token"]

    Client().post(
        "/oauth/revoke", {"token": token, "token_type_hint": "access_token"}, **flow.app_auth(application)
    )

    (revoked,) = events("token.revoked")
    assert revoked.client_id == application.client_id
    assert revoked.details == {"hint": "access_token"}
