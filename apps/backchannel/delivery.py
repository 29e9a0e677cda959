"""Sign and send the queued logout tokens (OIDC Back-Channel Logout 1.0 §2.4-§2.8).

`deliver_due` is what `manage.py deliver_logout_tokens` runs. It claims one due row at a time
with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL), so several drainers never send the same
token twice and never wait on each other: a row another drainer holds is skipped. The row stays
locked while its POST is in flight, at most LATCH_BACKCHANNEL_LOGOUT_TIMEOUT_SECONDS, so a crash
mid-send leaves it pending for the next run rather than lost.

A 200 (or 204, which some frameworks answer instead, §2.8) is delivered. Anything else, a
redirect included (none is followed: the token goes only to the registered URI), a timeout or a
refused connection is retried with exponential backoff, up to LATCH_BACKCHANNEL_LOGOUT_ATTEMPTS
attempts, and then failed. The audit log records each delivery and each final failure, not the
retries.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.backchannel.models import LogoutDelivery, SessionSignIn
from apps.core import outbound
from apps.oauth import signing

logger = logging.getLogger(__name__)

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# §2.4: short-lived; the app checks it on arrival, and a retry is signed anew.
LOGOUT_TOKEN_SECONDS = 120
LOGOUT_TOKEN_TYPE = "logout+jwt"
# The longest wait between two attempts, however many there were.
MAX_BACKOFF = timedelta(hours=1)


def issuer() -> str:
    """The `iss` of the logout token: the one of the id_tokens (no request to build it from here)."""
    if not oauth2_settings.OIDC_ISS_ENDPOINT:
        raise ImproperlyConfigured("Set LATCH_ISSUER: logout tokens are sent outside any request.")
    return oauth2_settings.OIDC_ISS_ENDPOINT


def logout_token(delivery: LogoutDelivery) -> str:
    """The logout token for `delivery`, signed now with the key that signs id_tokens (same kid as in
    /oauth/jwks). Never a `nonce` (§2.4: it would let the token pass for an id_token)."""
    application = delivery.application
    issued_at = int(time.time())
    claims: dict[str, object] = {
        "iss": issuer(),
        "aud": application.client_id,
        "iat": issued_at,
        "exp": issued_at + LOGOUT_TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
        "events": {LOGOUT_EVENT: {}},
    }
    if delivery.sub:
        claims["sub"] = delivery.sub
    if delivery.sid:
        claims["sid"] = delivery.sid
    return signing.sign_jwt(claims, typ=LOGOUT_TOKEN_TYPE)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: LATCH_BACKCHANNEL_LOGOUT_RETRY_SECONDS, doubled
    each time, at most MAX_BACKOFF."""
    base = timedelta(seconds=settings.LATCH_BACKCHANNEL_LOGOUT_RETRY_SECONDS)
    return min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


def post_logout_token(uri: str, token: str, *, public_only: bool = False) -> str:
    """POST the token (§2.5); "" when the app took it, else what went wrong, for the admin.

    `public_only`: the app registered the URI itself, so it may not lead inside the network
    (apps/core/outbound.py)."""
    if public_only:
        try:
            outbound.require_public_destination(uri)
        except outbound.InternalDestination as exc:
            return f"Refused: {exc}"[:500]
    try:
        response = requests.post(
            uri,
            data={"logout_token": token},
            timeout=settings.LATCH_BACKCHANNEL_LOGOUT_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if response.status_code in (200, 204):
        return ""
    return f"HTTP {response.status_code}"


def attempt(delivery: LogoutDelivery, *, now: datetime) -> LogoutDelivery.Status:
    """One attempt at a claimed (locked) delivery; stores the outcome and returns its status."""
    application = delivery.application
    delivery.attempts += 1
    if not application.backchannel_logout_uri:
        error = "The application no longer has a back-channel logout URI."
        delivery.attempts = max(delivery.attempts, settings.LATCH_BACKCHANNEL_LOGOUT_ATTEMPTS)
    elif application.backchannel_logout_session_required and not delivery.sid:
        error = "The application requires sid and this logout has none."  # never sent without it
        delivery.attempts = max(delivery.attempts, settings.LATCH_BACKCHANNEL_LOGOUT_ATTEMPTS)
    else:
        error = post_logout_token(
            application.backchannel_logout_uri,
            logout_token(delivery),
            public_only=outbound.self_registered(application),
        )
    details: dict[str, Any] = {
        "delivery": delivery.pk,
        "reason": delivery.reason,
        "attempts": delivery.attempts,
    }
    if not error:
        delivery.status, delivery.delivered_at, delivery.last_error = LogoutDelivery.Status.DELIVERED, now, ""
        record(
            AuditEvent.Event.BACKCHANNEL_LOGOUT_DELIVERED,
            user=delivery.user,
            client_id=application.client_id,
            **details,
        )
    elif delivery.attempts >= settings.LATCH_BACKCHANNEL_LOGOUT_ATTEMPTS:
        delivery.status, delivery.failed_at, delivery.last_error = LogoutDelivery.Status.FAILED, now, error
        record(
            AuditEvent.Event.BACKCHANNEL_LOGOUT_FAILED,
            user=delivery.user,
            client_id=application.client_id,
            error=error,
            **details,
        )
    else:
        delivery.next_attempt_at, delivery.last_error = now + backoff(delivery.attempts), error
    delivery.save(
        update_fields=["attempts", "status", "delivered_at", "failed_at", "next_attempt_at", "last_error"]
    )
    logger.info(
        "backchannel.attempt delivery=%s client=%s status=%s attempts=%s error=%r",
        delivery.pk,
        application.client_id,
        delivery.status,
        delivery.attempts,
        error,
    )
    return LogoutDelivery.Status(delivery.status)


@dataclass
class DrainResult:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


def deliver_due(*, now: datetime | None = None, limit: int = 1000) -> DrainResult:
    """Attempt every delivery due at `now` (default: the start of the run), each in its own
    transaction, at most `limit` of them. A row retried in this run is due again only later."""
    now = now or timezone.now()
    result = DrainResult()
    while result.attempted < limit:
        with transaction.atomic():
            delivery = (
                LogoutDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("application", "user")
                .filter(status=LogoutDelivery.Status.PENDING, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "pk")
                .first()
            )
            if delivery is None:
                break
            status = attempt(delivery, now=now)
        if status == LogoutDelivery.Status.DELIVERED:
            result.delivered += 1
        elif status == LogoutDelivery.Status.FAILED:
            result.failed += 1
        else:
            result.retrying += 1
    return result


def retry_now(deliveries, *, now: datetime | None = None) -> int:
    """Make failed or waiting deliveries due at once (the admin's action): one more attempt each."""
    return deliveries.exclude(status=LogoutDelivery.Status.DELIVERED).update(
        status=LogoutDelivery.Status.PENDING, next_attempt_at=now or timezone.now(), failed_at=None
    )


def purge_old(*, now: datetime | None = None) -> int:
    """Delete deliveries delivered or failed more than LATCH_BACKCHANNEL_LOGOUT_KEEP_DAYS ago (the
    audit log keeps their outcome), and session sign-ins of members with no live session left."""
    from apps.accounts.models import HashedKeySession

    now = now or timezone.now()
    before = now - timedelta(days=settings.LATCH_BACKCHANNEL_LOGOUT_KEEP_DAYS)
    deleted, _ = LogoutDelivery.objects.filter(
        status=LogoutDelivery.Status.DELIVERED, delivered_at__lt=before
    ).delete()
    failed, _ = LogoutDelivery.objects.filter(
        status=LogoutDelivery.Status.FAILED, failed_at__lt=before
    ).delete()
    live_members = HashedKeySession.objects.filter(expire_date__gt=now, user__isnull=False).values("user")
    SessionSignIn.objects.exclude(user__in=live_members).delete()
    return deleted + failed
