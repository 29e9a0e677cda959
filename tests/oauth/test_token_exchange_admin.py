"""The token exchange policy in the admin: what an administrator sets, and what is refused."""

import pytest

from apps.audit.models import AuditEvent
from apps.oauth.models import TokenExchangePolicy
from tests.oauth.factories import ApplicationFactory, public_application, service_application

pytestmark = pytest.mark.django_db

ADD = "/admin/oauth/tokenexchangepolicy/add/"


def policy_form(client, **overrides) -> dict:
    data = {
        "client": str(client.pk),
        "enabled": "on",
        "audiences": "https://files.example.org\n\nkiosk\nkiosk\n",
        "scopes": ["member-read", "activity-read"],
        "served_audiences": "https://service.example.org/api",
        "subject_clients": [],
    }
    data.update(overrides)
    return data


def test_admin_creates_a_policy_with_audiences_one_per_line_and_records_it(admin_browser):
    service, frontend = service_application(), ApplicationFactory()

    response = admin_browser.post(ADD, policy_form(service, subject_clients=[str(frontend.pk)]))

    assert response.status_code == 302, response.content
    policy = TokenExchangePolicy.objects.get(client=service)
    assert policy.audiences == ["https://files.example.org", "kiosk"]
    assert policy.scopes == ["member-read", "activity-read"]
    assert policy.served_audiences == ["https://service.example.org/api"]
    assert list(policy.subject_clients.all()) == [frontend]
    event = AuditEvent.objects.get(event=AuditEvent.Event.APPLICATION_CHANGED, client_id=service.client_id)
    assert event.details["exchange_policy"]["subject_clients"] == [frontend.client_id]
    assert event.details["exchange_policy"]["audiences"] == ["https://files.example.org", "kiosk"]


def test_admin_shows_the_scopes_as_checkboxes(admin_browser):
    html = admin_browser.get(ADD).content.decode()

    assert 'type="checkbox" name="scopes" value="checkout-write"' in html


def test_admin_refuses_a_policy_for_a_public_client(admin_browser):
    response = admin_browser.post(ADD, policy_form(public_application()))

    assert response.status_code == 200
    assert "Only a confidential client may exchange tokens" in response.content.decode()
    assert not TokenExchangePolicy.objects.exists()


def test_admin_refuses_an_unknown_scope(admin_browser):
    response = admin_browser.post(ADD, policy_form(service_application(), scopes=["member-read", "admin"]))

    assert response.status_code == 200
    assert not TokenExchangePolicy.objects.exists()


def test_a_client_has_one_policy_at_most(admin_browser):
    service = service_application()
    assert admin_browser.post(ADD, policy_form(service)).status_code == 302

    assert admin_browser.post(ADD, policy_form(service)).status_code == 200
    assert TokenExchangePolicy.objects.count() == 1
