"""The drainer: delivered on 200/204, retried with backoff on anything else, failed when the attempts
run out; audited once per outcome; visible and retryable in the admin; old rows cleaned up."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.backchannel.delivery import backoff, deliver_due, purge_old
from apps.backchannel.models import LogoutDelivery, SessionSignIn
from apps.oauth.models import Application
from tests.accounts.factories import UserFactory
from tests.backchannel.receiver import verify_logout_token

pytestmark = pytest.mark.django_db

Status = LogoutDelivery.Status


def queued(application, member, **kwargs) -> LogoutDelivery:
    kwargs.setdefault("sub", str(member.public_id))
    kwargs.setdefault("sid", "a-session-id")
    return LogoutDelivery.objects.create(
        application=application, user=member, reason=LogoutDelivery.Reason.SESSION_ENDED, **kwargs
    )


def events(event: str) -> int:
    return AuditEvent.objects.filter(event=event).count()


@pytest.mark.parametrize("status", [200, 204])
def test_200_or_204_is_delivered_and_audited(member, rp, receiver, status):
    receiver.status = status
    delivery = queued(rp(), member)

    result = deliver_due()

    delivery.refresh_from_db()
    assert result.delivered == 1
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 1
    assert delivery.delivered_at is not None
    assert events(AuditEvent.Event.BACKCHANNEL_LOGOUT_DELIVERED) == 1
    assert deliver_due().attempted == 0  # never sent twice


def test_a_failing_app_is_retried_with_backoff_then_failed_and_audited_once(member, rp, receiver):
    receiver.status = 500
    application = rp()
    delivery = queued(application, member)
    now = timezone.now()

    for attempt in range(1, 5):
        assert deliver_due(now=now).retrying == 1
        delivery.refresh_from_db()
        assert delivery.status == Status.PENDING
        assert delivery.attempts == attempt
        assert delivery.last_error == "HTTP 500"
        assert delivery.next_attempt_at == now + timedelta(seconds=60 * 2 ** (attempt - 1))
        # Not due before its time.
        assert deliver_due(now=delivery.next_attempt_at - timedelta(seconds=1)).attempted == 0
        now = delivery.next_attempt_at
    assert deliver_due(now=now).failed == 1

    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert delivery.attempts == 5
    assert delivery.failed_at == now
    assert len(receiver.requests) == 5
    assert events(AuditEvent.Event.BACKCHANNEL_LOGOUT_FAILED) == 1
    assert events(AuditEvent.Event.BACKCHANNEL_LOGOUT_DELIVERED) == 0
    assert deliver_due(now=now + timedelta(days=1)).attempted == 0
    # Each attempt was a freshly signed token.
    assert len({verify_logout_token(token, application)["jti"] for token in receiver.tokens()}) == 5


def test_backoff_doubles_and_is_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert backoff(30) == timedelta(hours=1)


def test_an_app_that_does_not_answer_in_time_is_retried(member, rp, receiver, settings):
    settings.LATCH_BACKCHANNEL_LOGOUT_TIMEOUT_SECONDS = 0.2
    receiver.delay = 1.0
    delivery = queued(rp(), member)

    assert deliver_due().retrying == 1

    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING
    assert "Timeout" in delivery.last_error


def test_an_app_that_is_not_listening_is_retried(member, rp, receiver):
    delivery = queued(rp(), member)
    receiver.stop()

    assert deliver_due().retrying == 1

    delivery.refresh_from_db()
    assert "ConnectionError" in delivery.last_error


def test_a_redirect_is_not_followed_and_is_not_a_delivery(member, rp, receiver):
    receiver.status = 302
    receiver.location = receiver.uri("/elsewhere")
    delivery = queued(rp(), member)

    deliver_due()

    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING
    assert delivery.last_error == "HTTP 302"
    assert [request["path"] for request in receiver.requests] == ["/backchannel-logout"]


def test_an_app_whose_uri_was_removed_fails_without_a_request(member, rp, receiver):
    application = rp()
    delivery = queued(application, member)
    Application.objects.filter(pk=application.pk).update(backchannel_logout_uri="")

    assert deliver_due().failed == 1

    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert receiver.requests == []


def test_an_app_requiring_sid_is_never_sent_a_token_without_one(member, rp, receiver):
    delivery = queued(rp(session_required=True), member, sid="")

    assert deliver_due().failed == 1

    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert "sid" in delivery.last_error
    assert receiver.requests == []


def test_nothing_stored_is_a_token(member, rp, receiver):
    delivery = queued(rp(), member)

    deliver_due()

    (token,) = receiver.tokens()
    stored = str(list(LogoutDelivery.objects.filter(pk=delivery.pk).values().get().values()))
    assert token not in stored
    assert token.split(".")[2] not in stored


def test_the_command_delivers_and_cleans_up(member, rp, receiver):
    queued(rp(), member)
    old = queued(
        rp("/old"), member, status=Status.DELIVERED, delivered_at=timezone.now() - timedelta(days=30)
    )

    call_command("deliver_logout_tokens")

    assert len(receiver.tokens("/backchannel-logout")) == 1
    assert not LogoutDelivery.objects.filter(pk=old.pk).exists()


def test_cleanup_keeps_recent_and_pending_rows(member, rp):
    application = rp()
    long_ago = timezone.now() - timedelta(days=15)
    recent = queued(application, member, status=Status.DELIVERED, delivered_at=timezone.now())
    pending = queued(application, member, created_at=long_ago)
    old_failure = queued(application, member, status=Status.FAILED, failed_at=long_ago)

    assert purge_old() == 1

    assert set(LogoutDelivery.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}
    assert not LogoutDelivery.objects.filter(pk=old_failure.pk).exists()


def test_cleanup_forgets_session_sign_ins_of_members_with_no_live_session(member, rp):
    from tests.backchannel.conftest import sign_into, signed_in_browser

    application = rp()
    sign_into(signed_in_browser(member), application)
    gone = UserFactory()
    SessionSignIn.objects.create(sid="expired-session", user=gone, application=application)

    purge_old()

    assert list(SessionSignIn.objects.values_list("user", flat=True)) == [member.pk]


# --- The admin ------------------------------------------------------------------------------------


def test_the_admin_lists_failures_by_status_and_cannot_edit(member, rp, admin_browser):
    application = rp()
    failed = queued(application, member, status=Status.FAILED, last_error="HTTP 500")
    queued(application, member, status=Status.DELIVERED)

    page = admin_browser.get("/admin/backchannel/logoutdelivery/?status__exact=failed")

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [failed]
    assert "HTTP 500" in page.content.decode()
    assert admin_browser.get("/admin/backchannel/logoutdelivery/add/").status_code == 403
    change = admin_browser.post(
        f"/admin/backchannel/logoutdelivery/{failed.pk}/change/", {"status": "delivered"}
    )
    assert change.status_code == 403
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


def test_retry_now_makes_a_failed_delivery_due_for_one_more_attempt(member, rp, receiver, admin_browser):
    failed = queued(
        rp(), member, status=Status.FAILED, attempts=5, failed_at=timezone.now(), last_error="HTTP 500"
    )

    response = admin_browser.post(
        "/admin/backchannel/logoutdelivery/",
        {"action": "retry_now", "_selected_action": [failed.pk]},
    )

    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == Status.PENDING
    assert failed.failed_at is None
    assert deliver_due().delivered == 1


def test_retry_now_leaves_delivered_rows_alone(member, rp, admin_browser):
    delivered = queued(rp(), member, status=Status.DELIVERED, delivered_at=timezone.now())

    admin_browser.post(
        "/admin/backchannel/logoutdelivery/", {"action": "retry_now", "_selected_action": [delivered.pk]}
    )

    delivered.refresh_from_db()
    assert delivered.status == Status.DELIVERED


def test_only_staff_see_the_deliveries(member, rp):
    queued(rp(), member)
    browser = Client()
    browser.force_login(member)

    assert browser.get("/admin/backchannel/logoutdelivery/").status_code == 302
