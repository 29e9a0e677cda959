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
