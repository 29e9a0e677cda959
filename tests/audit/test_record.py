"""record(): the actor, the IP, no secrets, one INSERT, and a failure that never breaks the caller."""

import ipaddress
import json
import logging

import pytest
from django.db import IntegrityError, transaction
from django.test import RequestFactory

from apps.audit.logging import JSONFormatter
from apps.audit.models import AuditEvent
from apps.audit.services import record
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def request_from(ip: str, **headers):
    return RequestFactory(REMOTE_ADDR=ip, **headers).post("/oauth/token")


def test_a_user_is_the_actor_labelled_by_email_with_the_request_ip():
    user = UserFactory(email="ada@example.org")

    row = record(
        AuditEvent.Event.CONSENT_GRANTED, request=request_from("203.0.113.9"), user=user, client_id="kiosk"
    )

    assert AuditEvent.objects.get() == row
    assert (row.actor_type, row.actor_user, row.actor_label) == ("user", user, "ada@example.org")
    assert (row.client_id, row.ip, row.details) == ("kiosk", "203.0.113.9", {})


def test_without_a_user_the_client_is_the_actor():
    row = record(AuditEvent.Event.TOKEN_ISSUED, client_id="kiosk", grant_type="client_credentials")

    assert (row.actor_type, row.actor_user, row.actor_label, row.ip) == ("client", None, "kiosk", None)
    assert row.details == {"grant_type": "client_credentials"}


def test_without_user_or_client_the_actor_is_anonymous_and_an_anonymous_user_is_ignored():
    from django.contrib.auth.models import AnonymousUser

    row = record(AuditEvent.Event.THROTTLED, request=request_from("2001:db8::1"), user=AnonymousUser())

    assert (row.actor_type, row.actor_user, row.actor_label, row.ip) == ("anonymous", None, "", "2001:db8::1")


def test_the_ip_is_the_one_trusted_proxies_forwarded(settings):
    settings.LATCH_TRUSTED_PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)
    request = request_from("10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7")

    assert record(AuditEvent.Event.THROTTLED, request=request).ip == "203.0.113.7"


def test_an_address_that_is_not_an_ip_is_stored_as_none():
    assert record(AuditEvent.Event.THROTTLED, request=request_from("unknown")).ip is None


def test_an_explicit_actor_type_and_label_win():
    admin = UserFactory(email="root@example.org")

    by_admin = record(AuditEvent.Event.APPLICATION_DELETED, user=admin, actor_type="admin", client_id="k")
    by_command = record(AuditEvent.Event.APPLICATION_CREATED, actor_type="admin", actor_label="manage.py")

    assert (by_admin.actor_type, by_admin.actor_user, by_admin.actor_label) == (
        "admin",
        admin,
        "root@example.org",
    )
    assert (by_command.actor_type, by_command.actor_user, by_command.actor_label) == (
        "admin",
        None,
        "manage.py",
    )


def test_an_unknown_event_or_actor_type_is_a_bug_and_raises():
    with pytest.raises(ValueError, match=r"login\.succeded"):
        record("login.succeded")
    with pytest.raises(ValueError, match="robot"):
        record(AuditEvent.Event.LOGOUT, actor_type="robot")

    assert not AuditEvent.objects.exists()


SECRET_DETAILS = {
    "token": "t",
    "access_token": "t",
    "refreshToken": "t",
    "client_secret": "s",
    "password": "p",
    "new_password1": "p",
    "code": "c",
    "code_verifier": "v",
    "Authorization": "Basic x",
    "key": "k",
    "api_key": "k",
    "cookie": "c",
    "session_key": "s",
    "credentials": {"email": "a@example.org"},
    "client_assertion": "jwt",
}


def test_secret_looking_details_are_never_stored_or_logged(caplog):
    caplog.set_level(logging.INFO, logger="latch.audit")

    row = record(
        AuditEvent.Event.TOKEN_ISSUED,
        client_id="kiosk",
        grant_type="authorization_code",
        scope="openid member-read",
        client="kiosk",
        nested={"fine": 1, "id_token": "t", "list": [{"secret": "s", "ok": True}]},
        **SECRET_DETAILS,
    )

    expected = {
        "grant_type": "authorization_code",
        "scope": "openid member-read",
        "client": "kiosk",
        "nested": {"fine": 1, "list": [{"ok": True}]},
    }
    assert row.details == expected
    assert AuditEvent.objects.get().details == expected
    dropped, line = caplog.records
    assert dropped.levelname == "WARNING"
    assert dropped.details["dropped"] == ["nested.id_token", "nested.list.secret", *SECRET_DETAILS]
    assert line.details == expected
    for value in ("Basic x", "jwt", '"t"', '"s"', '"p"', '"k"', "a@example.org"):
        assert value not in caplog.text


def test_details_are_stored_as_plain_json_values():
    import uuid
    from datetime import UTC, datetime

    family = uuid.UUID("12345678-1234-5678-1234-567812345678")

    row = record(
        AuditEvent.Event.TOKEN_REVOKED,
        family=family,
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        scopes={"b", "a"},
        odd=object,
    )

    assert row.details == {
        "family": "12345678-1234-5678-1234-567812345678",
        "at": "2026-01-02T03:04:05Z",
        "scopes": ["a", "b"],
        "odd": "<class 'object'>",
    }


def test_recording_a_token_is_one_insert_and_no_other_query(django_assert_num_queries):
    user = UserFactory()
    request = request_from("203.0.113.9")

    with django_assert_num_queries(1) as queries:
        record(
            AuditEvent.Event.TOKEN_ISSUED,
            request=request,
            user=user,
            client_id="kiosk",
            grant_type="authorization_code",
            scope="openid",
            client="kiosk",
        )

    assert queries.captured_queries[0]["sql"].startswith("INSERT INTO")


def test_the_same_event_is_one_json_log_line(caplog):
    caplog.set_level(logging.INFO, logger="latch.audit")
    user = UserFactory(email="ada@example.org")

    row = record(
        AuditEvent.Event.TOKEN_ISSUED,
        request=request_from("203.0.113.9"),
        user=user,
        client_id="k",
        scope="openid",
    )

    (log_record,) = caplog.records
    line = json.loads(JSONFormatter().format(log_record))
    assert line.pop("time").endswith("+00:00")
    assert line == {
        "level": "INFO",
        "logger": "latch.audit",
        "event": "token.issued",
        "id": row.pk,
        "actor_type": "user",
        "actor_user": str(user.public_id),
        "actor_label": "ada@example.org",
        "client_id": "k",
        "ip": "203.0.113.9",
        "details": {"scope": "openid"},
    }
    assert log_record.getMessage() == (
        'token.issued actor=user:ada@example.org client=k ip=203.0.113.9 details={"scope": "openid"}'
    )


def test_an_insert_in_a_broken_transaction_is_logged_and_the_caller_carries_on(caplog):
    existing = UserFactory()

    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic(savepoint=False):
            UserFactory(email=existing.email)  # the transaction is now broken
        with caplog.at_level(logging.INFO, logger="latch.audit"):
            result = record(AuditEvent.Event.LOGOUT, user=existing)

    assert result is None
    failed, line = caplog.records
    assert (failed.levelname, failed.event, failed.exc_info is not None) == (
        "ERROR",
        "audit.write_failed",
        True,
    )
    assert (line.event, line.id, line.actor_label) == ("logout", None, existing.email)
    assert not AuditEvent.objects.exists()


def test_a_row_written_inside_a_transaction_that_rolls_back_is_gone_but_its_log_line_stays(caplog):
    caplog.set_level(logging.INFO, logger="latch.audit")

    def create_then_fail():
        with transaction.atomic():
            record(AuditEvent.Event.APPLICATION_CREATED, client_id="k")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        create_then_fail()

    assert not AuditEvent.objects.exists()
    assert [r.event for r in caplog.records] == ["application.created"]


def test_nul_bytes_from_a_client_are_stored_as_replacement_characters():
    from apps.audit.models import AuditEvent
    from apps.audit.services import record

    row = record(AuditEvent.Event.CLIENT_AUTH_FAILED, client_id="ev\x00il", path="/oauth/\x00token")

    row.refresh_from_db()
    assert row.client_id == "ev\ufffdil"
    assert row.actor_label == "ev\ufffdil"
    assert row.details == {"path": "/oauth/\ufffdtoken"}
