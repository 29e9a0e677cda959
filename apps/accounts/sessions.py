"""Database sessions that store only a digest of the session key (SESSION_ENGINE).

The session key is the browser's credential: with Django's default table, a copy of the database
would let anyone sign in as any member who has a live session. Here the table holds sha256(key)
(HashedKeySession), and lookups hash the key the browser sends, so a leaked table gives away nothing.
"""

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        from apps.accounts.models import HashedKeySession

        return HashedKeySession
