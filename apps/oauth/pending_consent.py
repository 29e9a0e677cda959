"""The authorization requests a consent page is waiting on, kept in the member's session.

DOT's consent form carries the validated request (client_id, redirect_uri, scope, state, PKCE
challenge, ...) in hidden fields and trusts them when they come back. Latch keeps the parameters
oauthlib validated for the page server-side instead, under a random id that is the form's only
hidden field; Allow and Deny answer the stored request and nothing the browser posts.

An id is single-use, bound to the session and the member it was shown to, and expires. A session
keeps only its latest pages: older ones are dropped and must be started again from the app.
"""

import secrets
from datetime import timedelta
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.utils.timezone import now

PENDING_CONSENT = "_latch_pending_consent"  # session key: {id: entry}, oldest first
# Long enough to read the page, short enough that an abandoned one dies soon.
LIFETIME = timedelta(minutes=10)
KEPT_PER_SESSION = 10


def pending_consent_keep(
    *, session: SessionBase, user_id: int, parameters: dict[str, str], store: str = PENDING_CONSENT
) -> str:
    """Store `parameters` (the request as oauthlib validated it) for a consent page; returns its id.

    `store` is the session key: each kind of consent page (the device page's has its own,
    apps/oauth/device_views.py) answers only the requests of its own kind.
    """
    request_id = secrets.token_urlsafe(32)
    current = now()
    kept = {
        key: entry
        for key, entry in session.get(store, {}).items()
        if current.timestamp() < entry["expires_at"]
    }
    newest = list(kept)[-(KEPT_PER_SESSION - 1) :]  # the session keeps the dict's order, oldest first
    session[store] = {
        **{key: kept[key] for key in newest},
        request_id: {
            "user_id": user_id,
            "expires_at": (current + LIFETIME).timestamp(),
            "parameters": parameters,
        },
    }
    return request_id


def pending_consent_take(
    *, session: SessionBase, request_id: str, user_id: int, store: str = PENDING_CONSENT
) -> dict[str, Any] | None:
    """The stored parameters of `request_id`, removed so they answer once; None if there are none.

    None as well when the id expired, was shown to another member, or was already taken. The cache
    claim makes two concurrent posts of the same form (a double click) answer once: both may have
    read the session before either saved it.
    """
    pending = dict(session.get(store, {}))
    entry = pending.pop(request_id, None)
    if entry is None:
        return None
    session[store] = pending
    if entry["user_id"] != user_id or now().timestamp() >= entry["expires_at"]:
        return None
    if not cache.add(f"latch:consent-answered:{request_id}", True, timeout=int(LIFETIME.total_seconds())):
        return None
    return entry["parameters"]
