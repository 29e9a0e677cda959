"""Queue logout tokens when a member's session ends, they sign out everywhere, or they are deactivated.

Each function writes LogoutDelivery rows on the caller's connection, inside the caller's transaction
(apps/backchannel/models.py says why); apps/backchannel/delivery.py signs and sends them.
"""

import logging
from collections import defaultdict

from django.utils import timezone

from apps.backchannel.models import LogoutDelivery, SessionSignIn
from apps.oauth.models import AccessToken, Application, RefreshToken

logger = logging.getLogger(__name__)


def note_session_sign_in(*, sid: str, user, application: Application) -> None:
    """The session `sid` signed into `application` (once per pair, however many codes it gets)."""
    SessionSignIn.objects.bulk_create(
        [SessionSignIn(sid=sid, user=user, application=application)], ignore_conflicts=True
    )


def _queue(deliveries: list[LogoutDelivery]) -> list[LogoutDelivery]:
    LogoutDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        logger.info(
            "backchannel.queued client=%s reason=%s with_sid=%s",
            delivery.application.client_id,
            delivery.reason,
            bool(delivery.sid),
        )
    return deliveries


def logout_session(*, user, sid: str) -> list[LogoutDelivery]:
    """One browser session ended: a token with its `sid` and the member's `sub` to each app the
    session signed into that has a back-channel logout URI."""
    if not sid:
        return []
    signed_in = SessionSignIn.objects.filter(sid=sid, user=user)
    applications = Application.objects.filter(pk__in=signed_in.values("application")).exclude(
        backchannel_logout_uri=""
    )
    deliveries = [
        LogoutDelivery(
            application=application,
            user=user,
            sub=str(user.public_id),
            sid=sid,
            reason=LogoutDelivery.Reason.SESSION_ENDED,
        )
        for application in applications.order_by("pk")
    ]
    signed_in.delete()
    return _queue(deliveries)


def logout_member(*, user, reason: LogoutDelivery.Reason) -> list[LogoutDelivery]:
    """Every session of the member ends (sign out everywhere, deactivation): tell every app the
    member has a session or a live token with.

    An app that takes `sub` alone gets one token, which ends all the member's sessions there (§2.4).
    An app that requires `sid` gets one token per session Latch knows signed into it, with `sid`
    and `sub`; it gets none for tokens no session is known for (a device grant), since a token
    without `sid` is one it has said it cannot use. Call this before revoking the tokens.
    """
    sessions = SessionSignIn.objects.filter(user=user)
    sids: dict[int, set[str]] = defaultdict(set)
    for application_id, sid in sessions.values_list("application", "sid"):
        sids[application_id].add(sid)
    live_refresh = RefreshToken.objects.filter(user=user, revoked__isnull=True)
    live_access = AccessToken.objects.filter(user=user, expires__gt=timezone.now())
    with_tokens = set(live_refresh.values_list("application", flat=True)) | set(
        live_access.values_list("application", flat=True)
    )
    applications = Application.objects.filter(pk__in=set(sids) | with_tokens).exclude(
        backchannel_logout_uri=""
    )
    sub = str(user.public_id)
    deliveries = []
    for application in applications.order_by("pk"):
        if application.backchannel_logout_session_required:
            deliveries += [
                LogoutDelivery(application=application, user=user, sub=sub, sid=sid, reason=reason)
                for sid in sorted(sids[application.pk])
            ]
        else:
            deliveries.append(LogoutDelivery(application=application, user=user, sub=sub, reason=reason))
    sessions.delete()
    return _queue(deliveries)
