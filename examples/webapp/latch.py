"""Everything this app says to Latch: the OAuth client, token refresh, API calls, revocation.

Views never handle a token. They call `api()` (or `get_json()`), which refreshes the access token
shortly before it expires and, if the API still answers 401 (Latch may revoke or expire a token
early), refreshes once and tries once more. When Latch refuses the refresh token (invalid_grant:
revoked, replayed or expired) the member must sign in again: `SessionEnded`. When Latch cannot be
reached, or answers what it should not: `LatchUnavailable`. Every call to Latch has a timeout.

The client is Authlib's Django integration, configured from Latch's discovery document: the
authorization code flow with PKCE S256, state and nonce kept in the (server-side) session, and the
id_token checked against Latch's keys (jwks_uri), issuer, audience and nonce.
"""

import logging
import threading
import time
from typing import Any
from urllib.parse import urljoin

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import OAuth
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.module_loading import import_string

# The app's own values straight from its settings module, which is the one Django loaded
# (DJANGO_SETTINGS_MODULE=examples.webapp.settings): that way mypy knows their types, where
# django.conf.settings is typed after Latch's config.settings. Django's own settings (the
# session engine) still come from django.conf.settings.
from examples.webapp import settings as conf
from examples.webapp import tokens

logger = logging.getLogger(__name__)

TOKEN = "latch_token"  # the session key of the member's tokens (tokens.stored)
API_BASE = f"{conf.LATCH_URL}/api/v1/"

oauth = OAuth()
latch = oauth.register(
    name="latch",
    client_id=conf.LATCH_CLIENT_ID,
    client_secret=conf.LATCH_CLIENT_SECRET,
    server_metadata_url=f"{conf.LATCH_URL}/.well-known/openid-configuration",
    client_kwargs={
        "scope": tokens.SCOPES,
        "code_challenge_method": "S256",
        "default_timeout": conf.LATCH_TIMEOUT,
    },
)


class SessionEnded(Exception):
    """Latch no longer accepts this session's refresh token: the member must sign in again."""


class LatchUnavailable(Exception):
    """Latch did not answer, or answered something this app cannot use; the session may still be fine."""


def signed_in(session: SessionBase) -> bool:
    return TOKEN in session


def sign_in(session: SessionBase, response: dict[str, Any]) -> None:
    """Keep the tokens of a completed sign-in, under a new session key (no session fixation)."""
    session.cycle_key()
    session[TOKEN] = tokens.stored(response, now=time.time())


def api(session: SessionBase, method: str, path: str) -> requests.Response:
    """Call Latch's API at `path` (below /api/v1/) as the member: refresh if due, call, retry once on 401."""
    token = session[TOKEN]
    if tokens.expires_soon(token, now=time.time()):
        token = _refresh(session)
    response = _send(method, path, token)
    if response.status_code == 401:
        logger.info("latch.api_unauthorized path=%s: refreshing once", path)
        response = _send(method, path, _refresh(session))
    return response


def get_json(session: SessionBase, path: str, *, pages: int = 1) -> Any:
    """GET a resource, or the `results` of up to `pages` pages of a list (apps/api/pagination.py)."""
    response = api(session, "GET", path)
    if response.status_code != 200:
        raise LatchUnavailable(f"GET {path}: {response.status_code} {error_code(response)}")
    body = json_object(response)
    if pages == 1 or "results" not in body:
        return body
    results = list(body["results"])
    # Follow `next` only while it stays on Latch's API: the link comes from the response.
    while (next_url := body.get("next")) and str(next_url).startswith(API_BASE) and pages > 1:
        pages -= 1
        body = get_json(session, next_url.removeprefix(API_BASE))
        results.extend(body["results"])
    return results


def revoke(token: dict[str, Any]) -> None:
    """Revoke the refresh token at Latch (RFC 7009, authenticated as this client), which ends its
    access token too. Signing out goes on whatever happens here, so failures are only logged."""
    try:
        endpoint = latch.load_server_metadata()["revocation_endpoint"]
        with OAuth2Session(
            conf.LATCH_CLIENT_ID, conf.LATCH_CLIENT_SECRET, default_timeout=conf.LATCH_TIMEOUT
        ) as client:
            response = client.revoke_token(
                endpoint, token=token["refresh_token"], token_type_hint="refresh_token"
            )
        if response.status_code != 200:
            logger.warning("latch.revocation_refused status=%s", response.status_code)
    except (requests.RequestException, KeyError, ValueError) as error:
        logger.warning("latch.revocation_failed error=%s", type(error).__name__)


# Refreshes of one session take turns: two requests of one browser that refreshed at once would
# present the same refresh token twice, and Latch takes the second for a replayed token and
# revokes the whole family (RFC 9700 §4.14.2). A few locks shared by hash keep the memory fixed.
# They work within this process (runserver is one process with threads); several processes would
# need a shared lock.
_REFRESH_LOCKS = [threading.Lock() for _ in range(64)]


def _refresh(session: SessionBase) -> dict[str, Any]:
    with _REFRESH_LOCKS[hash(session.session_key) % len(_REFRESH_LOCKS)]:
        current = session[TOKEN]
        saved = _saved_token(session)
        if saved and saved.get("refresh_token") != current.get("refresh_token"):
            session[TOKEN] = saved  # another request refreshed while this one waited
            return saved
        if not current.get("refresh_token"):
            raise SessionEnded("no refresh token")
        try:
            response = latch.fetch_access_token(
                grant_type="refresh_token", refresh_token=current["refresh_token"]
            )
        except OAuthError as error:  # Latch's answer: invalid_grant (revoked, replayed, expired), ...
            logger.info("latch.refresh_refused error=%s", error.error)
            raise SessionEnded(error.error) from error
        except (requests.RequestException, ValueError) as error:
            raise LatchUnavailable(f"refresh: {type(error).__name__}") from error
        session[TOKEN] = tokens.stored(response, previous=current, now=time.time())
        # Saved now, not when the response is sent: the old refresh token is dead, and a request
        # that failed after this point must not leave it in the session.
        session.save()
        logger.info("latch.token_refreshed")
        return session[TOKEN]


def _saved_token(session: SessionBase) -> dict[str, Any] | None:
    """The token as the session store has it now, which another request may have refreshed."""
    if not session.session_key:
        return None
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session.session_key)
    return store.load().get(TOKEN)


def _send(method: str, path: str, token: dict[str, Any]) -> requests.Response:
    try:
        return requests.request(
            method,
            urljoin(API_BASE, path),
            headers={"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"},
            timeout=conf.LATCH_TIMEOUT,
        )
    except requests.RequestException as error:
        raise LatchUnavailable(f"{method} {path}: {type(error).__name__}") from error


def json_object(response: requests.Response) -> dict[str, Any]:
    """The JSON object Latch answered with; LatchUnavailable for anything else."""
    try:
        value = response.json()
    except ValueError as error:
        raise LatchUnavailable(f"{response.request.path_url}: not JSON") from error
    if not isinstance(value, dict):
        raise LatchUnavailable(f"{response.request.path_url}: not a JSON object")
    return value


def error_code(response: requests.Response) -> str:
    """The `error` of one of Latch's API errors ({"error": ..., "error_description": ...}), or ""."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""
