"""Database sessions that store only a digest of the session key (SESSION_ENGINE).

The session key is the browser's credential: with Django's default table, a copy of the database
would let anyone sign in as any member who has a live session. Here the table holds sha256(key)
(HashedKeySession), and lookups hash the key the browser sends, so a leaked table gives away nothing.

allauth's usersessions app keeps its own table of session keys in plain text, which would undo that;
instead the session row itself carries who is signed in and from where (Django's documented way of
extending a database-backed session engine), and apps/accounts/services.py lists and ends them.
"""

from datetime import datetime
from typing import TYPE_CHECKING, cast

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

if TYPE_CHECKING:
    from apps.accounts.models import HashedKeySession

# Session data written at sign-in and on activity (apps/accounts/services.py) and copied to columns.
CLIENT_IP = "_latch_ip"
CLIENT_USER_AGENT = "_latch_user_agent"
SIGNED_IN_AT = "_latch_signed_in_at"
LAST_SEEN_AT = "_latch_last_seen_at"
# The session's `sid` (OIDC Back-Channel Logout §2.1): a random value set at sign-in, never derived
# from the session key, which is the browser's credential (apps/accounts/services.py session_sid).
SESSION_ID = "_latch_sid"


def parse_timestamp(value) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        from apps.accounts.models import HashedKeySession

        return HashedKeySession

    def create_model_instance(self, data) -> "HashedKeySession":
        session = cast("HashedKeySession", super().create_model_instance(data))
        session.user_id = data.get(SESSION_KEY)
        session.ip = data.get(CLIENT_IP)
        session.user_agent = data.get(CLIENT_USER_AGENT, "")
        session.signed_in_at = parse_timestamp(data.get(SIGNED_IN_AT))
        session.last_seen_at = parse_timestamp(data.get(LAST_SEEN_AT))
        return session
