"""A member's signed-in browsers: recorded at sign-in, kept fresh while used, ended on request."""

import secrets
from datetime import datetime, timedelta

from allauth.account.authentication import get_authentication_records
from django.contrib.auth import SESSION_KEY, logout
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts import mfa, sessions
from apps.accounts.ip import client_ip_address
from apps.accounts.models import HashedKeySession
from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.backchannel import services as backchannel
from apps.backchannel.models import LogoutDelivery
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
    request.session[sessions.SESSION_ID] = new_sid()
    note_client(request)


def new_sid() -> str:
    return secrets.token_urlsafe(24)


def session_sid(request: HttpRequest) -> str:
    """This browser session's `sid`, the id_tokens' name for it (OIDC Back-Channel Logout §2.1).

    A random value kept in the session data, set at sign-in (note_sign_in); a session from before
    Latch set one gets one here. Not derived from the session key: Django gives the session a new
    key at sign-in and on a password change (cycle_key) while it stays the same session for the
    apps, and the key is the browser's credential, which no app should see any function of. The
    session data survives a new key, so the sid does too.
    """
    sid = request.session.get(sessions.SESSION_ID)
    if not isinstance(sid, str) or not sid:
        sid = request.session[sessions.SESSION_ID] = new_sid()
    return sid


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
    with transaction.atomic():
        session = (
            HashedKeySession.objects.select_for_update()
            .filter(user=user, session_key=Digest(session_digest))
            .first()
        )
        if session is None:
            return False
        session.delete()
        backchannel.logout_session(user=user, sid=session.get_decoded().get(sessions.SESSION_ID) or "")
        record(AuditEvent.Event.SESSION_ENDED, request=request, user=user)
    return True


@transaction.atomic
def sign_out_everywhere(request: HttpRequest, user) -> int:
    """End every session of the member, this one included, and revoke every token their apps hold.

    The apps the member allowed stay allowed: each app sends the member back through /oauth/authorize,
    where the remembered consent answers without a page once they have signed in again.
    Every app the member has a session or a token with is sent a logout token (apps/backchannel).
    Returns the number of refresh tokens revoked.
    """
    backchannel.logout_member(user=user, reason=LogoutDelivery.Reason.SIGNED_OUT_EVERYWHERE)
    HashedKeySession.objects.filter(user=user).delete()
    revoked = revoke_member_tokens(user)
    record(AuditEvent.Event.SIGNED_OUT_EVERYWHERE, request=request, user=user, revoked=revoked)
    logout(request)  # this browser's row is gone already; logout gives it a fresh, empty session
    return revoked


# --- Fresh sign-ins ---------------------------------------------------------------------------

# Authorization requests this browser was sent to sign in again for (OIDC prompt=login, max_age):
# a digest of the URL each returns to, and when it asked. Only the latest few are kept.
FRESH_SIGN_IN_REQUESTS = "_latch_fresh_sign_in_requests"
MAX_FRESH_SIGN_IN_REQUESTS = 10


def fresh_sign_in_request(request: HttpRequest, return_url: str) -> None:
    """Remember that `return_url` may go on only once this browser's member has signed in again.

    Nothing ends here: a GET must never sign anyone out (any page could do it with an <img>), so the
    session stays as it is until a new sign-in replaces it (session_replace_for_sign_in). Asking
    again for the same URL keeps the first time it asked.
    """
    asked = dict(request.session.get(FRESH_SIGN_IN_REQUESTS) or {})
    asked.setdefault(sha256_hex(return_url), timezone.now().isoformat())
    request.session[FRESH_SIGN_IN_REQUESTS] = dict(list(asked.items())[-MAX_FRESH_SIGN_IN_REQUESTS:])


def fresh_sign_in_outstanding(request: HttpRequest, url: str) -> bool:
    """Whether `url` was sent to sign in again and this browser has not signed in since it asked.

    A request that has been met is forgotten, so it cannot send the member round a second time.
    """
    asked = dict(request.session.get(FRESH_SIGN_IN_REQUESTS) or {})
    key = sha256_hex(url)
    asked_at = sessions.parse_timestamp(asked.get(key))
    if asked_at is None:
        return False
    signed_in_at = session_signed_in_at(request)
    if signed_in_at is None or signed_in_at <= asked_at:
        return True
    del asked[key]
    request.session[FRESH_SIGN_IN_REQUESTS] = asked
    return False


def session_replace_for_sign_in(request: HttpRequest, user) -> None:
    """A sign-in in a browser that is already signed in replaces that session; it never merges.

    Called once the new sign-in's first factor is proven (AccountAdapter.pre_login, on the sign-in
    form's POST), so a member who then gives up at the second step is signed out: allauth's later
    steps refuse a signed-in session. Django's login() would flush the session only for a
    different member; for the same one it keeps every key, and allauth's authentication records
    would mix the old sign-in's proofs into the new one's `amr` and `acr`. So the session is flushed
    here (a new key; the old row is deleted) and only this sign-in's records are carried over: those
    made after the old sign-in, other than the old session's reauthentications. The old session has
    ended, so the apps it signed into are sent logout tokens for it (apps/backchannel).
    """
    if SESSION_KEY not in request.session:
        return
    previous_member = getattr(request, "user", None)
    if previous_member is not None and previous_member.is_authenticated:
        backchannel.logout_session(user=previous_member, sid=request.session.get(sessions.SESSION_ID) or "")
    since = session_signed_in_at(request)
    records = [
        entry
        for entry in get_authentication_records(request, user)
        if not entry.get("reauthenticated") and (since is None or entry.get("at", 0) > since.timestamp())
    ]
    request.session.flush()
    mfa.restore_authentication_records(request, user, records)
