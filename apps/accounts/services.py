"""A member's signed-in browsers: recorded at sign-in, kept fresh while used, ended on request."""

from datetime import datetime, timedelta

from django.contrib.auth import logout
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts import sessions
from apps.accounts.ip import client_ip_address
from apps.accounts.models import HashedKeySession
from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.core.fields import Digest, sha256_hex
from apps.oauth.services import revoke_member_tokens

# How stale a session's "last seen" may get before a request refreshes it: one write per browser
# per interval, not one per request.
ACTIVITY_INTERVAL = timedelta(minutes=5)


def note_client(request: HttpRequest) -> None:
    """Remember in the session where the browser is and when it was seen (copied to its row on save)."""
    now = timezone.now()
    request.session[sessions.CLIENT_IP] = client_ip_address(request)
    request.session[sessions.CLIENT_USER_AGENT] = request.META.get("HTTP_USER_AGENT", "")[:300]
    request.session[sessions.LAST_SEEN_AT] = now.isoformat()


def note_sign_in(request: HttpRequest) -> None:
    request.session[sessions.SIGNED_IN_AT] = timezone.now().isoformat()
    note_client(request)


def note_activity(request: HttpRequest) -> None:
    """Refresh "last seen" if it is older than ACTIVITY_INTERVAL (or the session predates tracking)."""
    seen = sessions.parse_timestamp(request.session.get(sessions.LAST_SEEN_AT))
    if seen is None or timezone.now() - seen > ACTIVITY_INTERVAL:
        note_client(request)


def session_signed_in_at(request: HttpRequest) -> datetime | None:
    """When the member signed in in this browser (not in another one, as user.last_login may be).

    Sessions from before Latch recorded it fall back to user.last_login.
    """
    signed_in_at = sessions.parse_timestamp(request.session.get(sessions.SIGNED_IN_AT))
    return signed_in_at or getattr(request.user, "last_login", None)


def current_digest(request: HttpRequest) -> str | None:
    key = request.session.session_key
    return sha256_hex(key) if key else None


def signed_in_browsers(request: HttpRequest, user) -> list[HashedKeySession]:
    """The member's live sessions, the current one first, then by most recently seen."""
    current = current_digest(request)
    browsers = list(
        HashedKeySession.objects.filter(user=user, expire_date__gt=timezone.now())
        .defer("session_data")
        .order_by(F("last_seen_at").desc(nulls_last=True))
    )
    browsers.sort(key=lambda s: s.session_key != current)  # stable: the rest keep their order
    for browser in browsers:
        browser.is_current = browser.session_key == current  # type: ignore[attr-defined]
    return browsers


def end_session(request: HttpRequest, user, session_digest: str) -> bool:
    """End one of the member's other browser sessions; False if there is no such session.

    The digest comes from the member's own page; matching on the member too means a digest from
    anywhere else ends nothing.
    """
    if session_digest == current_digest(request):
        return False
    ended, _ = HashedKeySession.objects.filter(user=user, session_key=Digest(session_digest)).delete()
    if ended:
        record(AuditEvent.Event.SESSION_ENDED, request=request, user=user)
    return bool(ended)


@transaction.atomic
def sign_out_everywhere(request: HttpRequest, user) -> int:
    """End every session of the member, this one included, and revoke every token their apps hold.

    The apps the member allowed stay allowed: each app sends the member back through /oauth/authorize,
    where the remembered consent answers without a page once they have signed in again.
    Returns the number of refresh tokens revoked.
    """
    HashedKeySession.objects.filter(user=user).delete()
    revoked = revoke_member_tokens(user)
    record(AuditEvent.Event.SIGNED_OUT_EVERYWHERE, request=request, user=user, revoked=revoked)
    logout(request)  # this browser's row is gone already; logout gives it a fresh, empty session
    return revoked
