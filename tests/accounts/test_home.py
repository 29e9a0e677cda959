import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.audit.services import record
from tests.accounts.factories import UserFactory
from tests.members.factories import member_with_login

pytestmark = pytest.mark.django_db


def test_account_page_shows_the_members_own_record_read_only():
    member = member_with_login(first_name="Ada", last_name="Lovelace")
    browser = Client()
    browser.force_login(member.user)

    html = browser.get("/accounts/").content.decode()

    assert "Ada Lovelace" in html
    assert "+31 6 1234 5678" in html
    assert "1234 AB Utrecht" in html
    assert "<form" not in html.split("Your membership")[1].split("Where you are signed in")[0]
    assert 'href="/accounts/password/change/"' in html


def test_account_page_lists_the_members_recent_sign_ins_and_consents_but_not_others():
    user = UserFactory()
    other = UserFactory()
    record(AuditEvent.Event.CONSENT_GRANTED, user=user, client_id="planner-app", scope="member-read")
    record(AuditEvent.Event.CONSENT_GRANTED, user=other, client_id="someone-elses-app", scope="member-read")
    record(AuditEvent.Event.TOKEN_ISSUED, user=user, client_id="noisy-app", grant_type="refresh_token")
    browser = Client()
    browser.force_login(user)

    html = browser.get("/accounts/").content.decode()

    assert "Consent granted" in html
    assert "planner-app" in html
    assert "Sign-in succeeded" in html
    assert "someone-elses-app" not in html
    assert "noisy-app" not in html


def test_account_page_without_a_membership_record_says_so():
    browser = Client()
    browser.force_login(UserFactory())

    assert "This account has no membership record." in browser.get("/accounts/").content.decode()


def test_account_page_lists_changes_to_how_the_member_signs_in():
    user = UserFactory()
    record(AuditEvent.Event.MFA_ADDED, user=user, type="totp")
    record(AuditEvent.Event.SIGNED_OUT_EVERYWHERE, user=user, revoked=0)
    browser = Client()
    browser.force_login(user)

    html = browser.get("/accounts/").content.decode()

    assert "Two-factor method added" in html
    assert "Signed out everywhere" in html


def test_confirming_it_is_you_is_worded_like_latchs_pages():
    browser = Client()
    browser.force_login(UserFactory())

    html = browser.get("/accounts/reauthenticate/").content.decode()

    assert "Confirm it's you" in html
    assert "Confirm Access" not in html
