"""Sign-in, failed sign-in and sign-out each leave exactly one row, from the member's IP."""

import logging

import pytest
from django.contrib.auth import authenticate
from django.db import OperationalError
from django.test import Client, RequestFactory

from apps.audit import services as audit_services
from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def only_row() -> AuditEvent:
    (row,) = AuditEvent.objects.all()
    return row


def test_signing_in_records_login_succeeded_for_the_member():
    user = UserFactory(email="ada@example.org")
    browser = Client(REMOTE_ADDR="203.0.113.10")

    response = browser.post("/accounts/login/", {"login": "Ada@Example.org", "password": PASSWORD})

    assert response.status_code == 302
    row = only_row()
    assert (row.event, row.actor_type, row.actor_user, row.actor_label) == (
        "login.succeeded",
        "user",
        user,
        "ada@example.org",
    )
    assert (row.ip, row.client_id, row.details) == ("203.0.113.10", "", {})


def test_administrators_sign_in_on_the_sign_in_page_which_records_it():
    """The admin's own login page only sends them there (apps/accounts/mfa.py)."""
    admin = UserFactory(email="root@example.org", is_staff=True)
    browser = Client(REMOTE_ADDR="203.0.113.11")

    sign_in_page = browser.get("/admin/login/")["Location"]
    response = browser.post(sign_in_page, {"login": "root@example.org", "password": PASSWORD})

    assert sign_in_page == "/accounts/login/?next=/admin/"
    assert response.status_code == 302
    row = only_row()
    assert (row.event, row.actor_user, row.ip) == ("login.succeeded", admin, "203.0.113.11")


def test_a_wrong_password_records_login_failed_with_the_attempted_email_only():
    UserFactory(email="ada@example.org")
    browser = Client(REMOTE_ADDR="203.0.113.12")

    response = browser.post(
        "/accounts/login/", {"login": " ADA@example.org ", "password": "not the password"}
    )

    assert response.status_code == 200
    row = only_row()
    assert (row.event, row.actor_type, row.actor_user, row.actor_label) == (
        "login.failed",
        "anonymous",
        None,
        "ada@example.org",
    )
    assert (row.ip, row.details) == ("203.0.113.12", {})
    assert "not the password" not in str(row.details)


def test_a_login_name_that_is_not_an_email_is_not_stored():
    """It may well be the password, pasted into the wrong field.

    The sign-in page accepts only email addresses; any other caller of authenticate() may not.
    """
    request = RequestFactory(REMOTE_ADDR="203.0.113.13").post("/")

    assert authenticate(request, username="hunter2-Secret!", password="hunter2-Secret!") is None

    row = only_row()
    assert (row.event, row.actor_label, row.ip, row.details) == ("login.failed", "", "203.0.113.13", {})


def test_signing_out_records_logout_for_the_member():
    user = UserFactory(email="ada@example.org")
    browser = Client(REMOTE_ADDR="203.0.113.14")
    browser.post("/accounts/login/", {"login": "ada@example.org", "password": PASSWORD})

    browser.post("/accounts/logout/")

    login, logout = AuditEvent.objects.order_by("pk")
    assert login.event == "login.succeeded"
    assert (logout.event, logout.actor_type, logout.actor_user, logout.actor_label, logout.ip) == (
        "logout",
        "user",
        user,
        "ada@example.org",
        "203.0.113.14",
    )


def test_signing_out_without_being_signed_in_records_nothing():
    Client(REMOTE_ADDR="203.0.113.15").post("/accounts/logout/")

    assert not AuditEvent.objects.exists()


def test_a_failing_audit_insert_does_not_break_signing_in(monkeypatch, caplog):
    def broken_insert(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(audit_services._new_event, "save", broken_insert)
    caplog.set_level(logging.INFO, logger="latch.audit")
    user = UserFactory(email="ada@example.org")
    browser = Client(REMOTE_ADDR="203.0.113.16")

    response = browser.post("/accounts/login/", {"login": "ada@example.org", "password": PASSWORD})

    assert response.status_code == 302
    assert browser.session["_auth_user_id"] == str(user.pk)
    assert not AuditEvent.objects.exists()
    assert [(r.levelname, r.event) for r in caplog.records if r.name == "latch.audit"] == [
        ("ERROR", "audit.write_failed"),
        ("INFO", "login.succeeded"),
    ]
