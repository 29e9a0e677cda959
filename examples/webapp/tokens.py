"""The app's rules about its tokens, as plain functions of plain data: no Django, no HTTP.

Free of django.conf on purpose, so Latch's own test process can test them (tests/examples/): one
process has one Django settings module, and this app's is not Latch's.
"""

from collections.abc import Mapping
from typing import Any

# What this app asks for: signing in (openid profile email), staying signed in (offline_access: a
# refresh token), and the API scopes of the pages it shows.
SCOPES = "openid profile email offline_access member-read activity-read participant-read participant-write"
# Refresh this long before the access token expires: a token that expires while a request to the
# API is on its way comes back 401, and clocks differ a little.
EXPIRY_MARGIN_SECONDS = 30
# What the session keeps of a token response; never the `userinfo` Authlib adds, nor anything else.
KEPT = ("access_token", "refresh_token", "expires_at", "id_token", "scope")


def expires_soon(token: Mapping[str, Any], *, now: float, margin: float = EXPIRY_MARGIN_SECONDS) -> bool:
    """Whether the access token must be refreshed before it is used.

    A token without `expires_at` is used as it is: if Latch has expired it after all, the API
    answers 401 and the caller refreshes then (latch.api's one retry).
    """
    expires_at = token.get("expires_at")
    return expires_at is not None and float(expires_at) - now <= margin


def stored(
    response: Mapping[str, Any], *, now: float, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What the session keeps of a token response, a refresh's response merged into `previous`.

    Latch rotates refresh tokens (RFC 9700 §4.14.2): the new one replaces the old, which is dead.
    A response without one (RFC 6749 §6 allows that) keeps the old one, and a refresh without a
    new id_token keeps the one the sign-in gave, for the sign-out's id_token_hint.
    `expires_at` comes from `expires_in` when the response has only that (Authlib adds it).
    """
    token = {key: value for key, value in (previous or {}).items() if key in KEPT}
    token.pop("expires_at", None)  # the old access token's expiry says nothing about the new one
    token.update({key: response[key] for key in KEPT if response.get(key) is not None})
    if "expires_at" not in token and response.get("expires_in") is not None:
        token["expires_at"] = int(now + float(response["expires_in"]))
    return token
