"""The app's pages; thin: every call to Latch goes through examples/webapp/latch.py.

Every failure ends on a page with a message the member can act on, never a 500: an error
Latch sends back to /callback, a forged or replayed callback, a refused token request, an id_token
that does not verify, a refresh token Latch no longer accepts, or Latch being unreachable.
"""

import datetime
import logging
from typing import Any

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from joserfc.errors import JoseError

from examples.webapp import latch
from examples.webapp import settings as conf  # the app's own values, typed (see latch.py)

logger = logging.getLogger(__name__)

APP_NAME = "Activity planner"
DECLINED = f"You declined to share your details with {APP_NAME}."
SESSION_ENDED = "Your session with Latch has ended; sign in again."
UNREACHABLE = "Latch could not be reached; try again in a moment."
ENROLMENT_CONFLICTS = {  # the 409 codes of POST /api/v1/activities/<id>/enrolment
    "registration_closed": "Enrolment for this activity is closed.",
    "already_enrolled": "You are already enrolled, or on the waiting list.",
    "activity_full": "This activity is full, and so is its waiting list.",
}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not latch.signed_in(request.session):
        if "state" in request.GET:  # back from Latch's sign-out page (RP-Initiated Logout §3)
            return _signed_out(request)
        return render(request, "webapp/login.html")
    try:
        member = latch.get_json(request.session, "members/me")
        activities = latch.get_json(request.session, "activities")["results"]
        enrolments = latch.get_json(request.session, "members/me/enrolments", pages=10)
        by_activity = {enrolment["activity"]["id"]: enrolment for enrolment in enrolments}
        shown = [_activity(activity, by_activity.get(activity["id"])) for activity in activities]
    except latch.SessionEnded:
        return _end_session(request)
    except (latch.LatchUnavailable, KeyError, TypeError, ValueError) as error:  # ... or not the API's shape
        logger.warning("webapp.home_failed: %s", error)
        messages.error(request, UNREACHABLE)
        return render(request, "webapp/home.html", {"member": None, "activities": []})
    return render(request, "webapp/home.html", {"member": member, "activities": shown, "now": timezone.now()})


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """Start the authorization code flow; Authlib keeps state, nonce and PKCE verifier in the session."""
    try:
        return latch.latch.authorize_redirect(request, conf.LATCH_REDIRECT_URI)
    except (requests.RequestException, ValueError, RuntimeError) as error:  # discovery failed
        logger.warning("webapp.login_failed: %s", type(error).__name__)
        messages.error(request, UNREACHABLE)
        return redirect("home")


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Latch's answer to the authorization request: a code to redeem, or an error to explain."""
    if code := request.GET.get("error"):
        if code == "access_denied":
            messages.error(request, DECLINED)
        else:
            description = request.GET.get("error_description") or "no description"
            messages.error(request, f"Latch could not sign you in ({code}): {description}")
        return redirect("home")
    try:
        # RFC 9207: the answer names its issuer; one from another server is a mix-up attack.
        issuer = latch.latch.load_server_metadata()["issuer"]
        if request.GET.get("iss", issuer) != issuer:
            messages.error(request, "That answer did not come from Latch; sign in again.")
            return redirect("home")
        token = latch.latch.authorize_access_token(request)
    except MismatchingStateError:
        messages.error(request, "This sign-in was not started here, or was already used; sign in again.")
        return redirect("home")
    except OAuthError as error:  # the token request was refused
        messages.error(request, f"Latch did not accept the sign-in ({error.error}); sign in again.")
        return redirect("home")
    except JoseError as error:  # the id_token: signature, iss, aud, exp, nonce
        logger.warning("webapp.id_token_rejected: %s", error.error)
        messages.error(request, f"Latch's answer could not be verified ({error.error}); sign in again.")
        return redirect("home")
    except (requests.RequestException, ValueError, KeyError) as error:
        logger.warning("webapp.callback_failed: %s", type(error).__name__)
        messages.error(request, UNREACHABLE)
        return redirect("home")
    if not token.get("userinfo"):
        messages.error(request, "Latch sent no id_token; sign in again.")
        return redirect("home")
    latch.sign_in(request.session, token)
    return redirect("home")


@require_POST
def enrol(request: HttpRequest, activity_id: int) -> HttpResponse:
    if not latch.signed_in(request.session):
        return redirect("home")
    try:
        response = latch.api(request.session, "POST", f"activities/{activity_id}/enrolment")
        result = latch.json_object(response) if response.status_code == 201 else {}
    except latch.SessionEnded:
        return _end_session(request)
    except latch.LatchUnavailable:
        messages.error(request, UNREACHABLE)
        return redirect("home")
    code = latch.error_code(response)
    if response.status_code == 201:
        if result.get("status") == "waiting":
            messages.success(
                request, f"The activity is full: you are number {result.get('position')} on the waiting list."
            )
        else:
            messages.success(request, "You are enrolled.")
    elif response.status_code == 409:
        messages.error(request, ENROLMENT_CONFLICTS.get(code, f"Latch refused the enrolment ({code})."))
    elif response.status_code == 404:
        messages.error(request, "That activity is no longer open for enrolment.")
    else:
        messages.error(request, f"Latch refused the enrolment ({code or response.status_code}).")
    return redirect("home")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Revoke the refresh token, forget the member, and sign out at Latch too (RP-Initiated Logout)."""
    token = request.session.get(latch.TOKEN)
    request.session.flush()  # a new, empty session; the old one's file is gone
    if not token:
        return redirect("home")
    latch.revoke(token)
    try:
        # Authlib keeps the logout's `state` in the new session, so "/" can tell a real return.
        return latch.latch.logout_redirect(
            request,
            post_logout_redirect_uri=conf.LATCH_POST_LOGOUT_REDIRECT_URI,
            id_token_hint=token.get("id_token"),
            client_id=conf.LATCH_CLIENT_ID,
        )
    except (requests.RequestException, ValueError, RuntimeError) as error:
        logger.warning("webapp.logout_redirect_failed: %s", type(error).__name__)
        messages.info(request, f"You are signed out of {APP_NAME}, but Latch could not be reached.")
        return redirect("home")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form from a page older than the session (signed out meanwhile, in
    another tab, or the session expired) is refused with a message, not Django's 403 page."""
    logger.info("webapp.csrf_failed: %s", reason)
    messages.error(request, "That page had expired, so nothing was sent; try again.")
    return redirect("home")


def _signed_out(request: HttpRequest) -> HttpResponse:
    try:
        latch.latch.validate_logout_response(request)
    except OAuthError:
        pass  # not this browser's sign-out: show the plain login page
    else:
        messages.success(request, f"You are signed out of {APP_NAME} and of Latch.")
    return redirect("home")


def _end_session(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    messages.error(request, SESSION_ENDED)
    return redirect("home")


def _activity(activity: dict[str, Any], enrolment: dict[str, Any] | None) -> dict[str, Any]:
    """An activity of the API, with datetimes parsed and the member's own status beside it."""
    return {
        **activity,
        "starts_at": _moment(activity["starts_at"]),
        "ends_at": _moment(activity.get("ends_at")),
        "registration_opens_at": _moment(activity.get("registration_opens_at")),
        "status": enrolment["status"] if enrolment else None,
        "position": enrolment["position"] if enrolment else None,
    }


def _moment(value: str | None) -> datetime.datetime | None:
    return parse_datetime(value) if value else None
