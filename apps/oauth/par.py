"""Pushed authorization requests (RFC 9126): what a client pushes, and what /oauth/authorize makes of it.

A push (POST /oauth/par, apps/oauth/par_view.py) is validated as the authorization endpoint would
validate the same request in its URL: by oauthlib, through DOT's OAuthLibCore and Latch's server
and validator (client, redirect_uri, response_type, scopes against the app's allowed scopes, PKCE
S256), plus the checks AuthorizeView adds (prompt, max_age, RFC 8707 resources). It is stored
under `urn:ietf:params:oauth:request_uri:<256 random bits>`, of which the database keeps only the
SHA-256 (DigestField): a leaked row cannot be used.

At /oauth/authorize, `?client_id=...&request_uri=...` is replaced, once, at the start of the
request, by the pushed parameters (`pushed_parameters`): every later step (prompt, max_age,
acr_values, the consent page, the sign-in and second-factor round trips, DOT's own checks) sees
the pushed request and nothing else. The browser's URL stays the short one, so a round trip comes
back to it. Other authorization parameters in that URL are refused unless they repeat the pushed
value exactly: RFC 9126 §4 (after RFC 9101 §6.3) has the server use only the pushed parameters,
and a client whose URL says something else is mistaken about what it asked for; silently ignoring
it would hide the mistake. Repeating is allowed because OIDC clients repeat `response_type` and
`scope` in the URL (OIDC Core §6.1).

Lifetimes and single use:

- A request_uri must reach /oauth/authorize within REQUEST_URI_LIFETIME (the `expires_in` the
  client is told). Its first arrival gives it ROUND_TRIP_LIFETIME from then on, as long as a
  consent page lives: signing in, proving a second factor and reading the page take longer than
  a minute, and the member comes back to the same URL.
- It is spent when the authorization response is sent to the app: a code, or an error redirected
  to the app (`pushed_request_answer`, called by AuthorizeView in the transaction that issued the
  code). An UPDATE that only the first of two concurrent answers can make decides: the other's
  transaction is rolled back, its code with it, and it gets an error page. Before that, a reload
  shows the same page again (RFC 9126 §4 allows it); after it, the request_uri gets only an error
  page, never a redirect, as does an unknown, expired or another client's one.
- A pushed `prompt=login` or `max_age` asks for a sign-in newer than the push: once the member has
  signed in after it, they are met, as after the fresh sign-in of a plain request (whose return
  URL drops them, which a request_uri cannot).
- The two-factor page's "continue with the password only" link is the same URL with
  PASSWORD_LEVEL: it drops the pushed `acr_values` only for a member who has no authenticator, the
  only member that page is shown to.

Expired rows go with `cleanup_tokens` (apps/oauth/cleanup.py), RETENTION after they expire.
"""

import copy
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.oauth2_validators import is_valid_resource_uri
from oauthlib.common import urlencode
from oauthlib.oauth2 import OAuth2Error

from apps.accounts.services import session_signed_in_at
from apps.core.numbers import parse_non_negative_int
from apps.oauth import lookups, pending_consent
from apps.oauth.models import Application, PushedAuthorizationRequest
from apps.oauth.prompt import prompt_values, without_fresh_sign_in

logger = logging.getLogger(__name__)

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
REQUEST_URI_LIFETIME = timedelta(seconds=60)
ROUND_TRIP_LIFETIME = pending_consent.LIFETIME
# A consent page shown just before its request expired may still be answered for this long.
RETENTION = pending_consent.LIFETIME
# Latch's own parameter on the two-factor page's "continue with the password only" link.
PASSWORD_LEVEL = "latch_password_level"
# Never part of a pushed request: how the client authenticated (RFC 6749 §2.3.1, RFC 7521 §4.2).
CLIENT_AUTHENTICATION_PARAMETERS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


class Refused(Exception):
    """A push or a request_uri that cannot be used: `error` and `error_description` as the RFCs name them."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def required_for(application: Application) -> bool:
    """Whether the app must push its authorization requests (RFC 9126 §5)."""
    return settings.LATCH_REQUIRE_PAR or application.require_pushed_authorization_requests


# --- The push -------------------------------------------------------------------------------------


def _validated(request: HttpRequest, parameters: list[tuple[str, str]]) -> None:
    """Validate `parameters` as /oauth/authorize would validate them in its URL; Refused if not."""
    names = {name for name, _value in parameters}
    if "request_uri" in names:
        raise Refused("invalid_request", "A pushed request must not contain request_uri (RFC 9126 §2.1).")
    if "request" in names:
        raise Refused("request_not_supported", "Latch does not accept request objects (RFC 9101).")
    core = get_oauthlib_core()
    uri = f"{request.build_absolute_uri(reverse('oauth2_provider:authorize'))}?{urlencode(parameters)}"
    try:
        core.server.validate_authorization_request(uri, "GET", None, core.extract_headers(request))
    except OAuth2Error as error:  # FatalClientError included: there is no redirect to avoid here
        raise Refused(error.error, error.description or "The authorization request is invalid.") from error
    query = QueryDict(mutable=True)
    for name, value in parameters:
        query.appendlist(name, value)
    prompt = prompt_values(query)
    if "none" in prompt and len(prompt) > 1:
        raise Refused("invalid_request", "Prompt none is mutually exclusive with other values.")
    if "max_age" in query:
        try:
            parse_non_negative_int(query.get("max_age", ""))
        except ValueError as error:
            raise Refused("invalid_request", "max_age must be a number of seconds.") from error
    for resource in query.getlist("resource"):
        if not is_valid_resource_uri(resource):
            raise Refused(
                "invalid_target",
                f"The resource '{resource}' is not a valid resource indicator: "
                "it must be an absolute URI with a scheme and host.",
            )


def pushed_request_create(
    *, request: HttpRequest, application: Application, proof_jkt: str = ""
) -> tuple[str, int]:
    """Validate and store the authorization request in `request`'s body, pushed by the already
    authenticated `application`; returns (request_uri, expires_in). Refused when it is invalid.

    The client's own authentication parameters are not part of it. A `client_id` in the body must
    be the client's own. `proof_jkt` is the thumbprint of a DPoP proof sent with the push (RFC 9449
    §10.1): it binds the code as `dpop_jkt` does, and a `dpop_jkt` beside it must name the same key.
    """
    if request.POST.get("client_id", application.client_id) != application.client_id:
        raise Refused("invalid_request", "client_id is not the client that authenticated.")
    parameters = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in CLIENT_AUTHENTICATION_PARAMETERS and name != "client_id"
        for value in values
    ]
    parameters.insert(0, ("client_id", application.client_id))
    if proof_jkt:
        named = request.POST.get("dpop_jkt")
        if named is not None and named != proof_jkt:
            raise Refused("invalid_dpop_proof", "dpop_jkt is not the thumbprint of the DPoP proof's key.")
        if named is None:
            parameters.append(("dpop_jkt", proof_jkt))
    _validated(request, parameters)
    request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
    PushedAuthorizationRequest.objects.create(
        request_uri=request_uri,
        application=application,
        parameters=[list(pair) for pair in parameters],
        expires=timezone.now() + REQUEST_URI_LIFETIME,
    )
    logger.info("oauth.authorization_request_pushed client=%s", application.client_id)
    return request_uri, int(REQUEST_URI_LIFETIME.total_seconds())


# --- At the authorization endpoint ----------------------------------------------------------------


@dataclass(frozen=True)
class Pushed:
    """The parameters the authorization endpoint acts on for a request_uri, and the row they came from."""

    parameters: QueryDict
    pushed_request_id: int


def _unusable() -> Refused:
    return Refused(
        "invalid_request_uri",
        "This authorization request is unknown, has expired or was already answered; "
        "start again from the app.",
    )


def _arrived(request_uri: str, client_id: str) -> PushedAuthorizationRequest:
    """The live, unanswered pushed request of this client; on its first arrival its lifetime
    becomes ROUND_TRIP_LIFETIME from now."""
    now = timezone.now()
    try:
        pushed = PushedAuthorizationRequest.objects.filter(
            request_uri=request_uri,
            application__client_id=client_id,
            answered_at__isnull=True,
            expires__gt=now,
        ).first()
    except ValueError:  # a value the database cannot represent (a NUL byte): no such request
        pushed = None
    if pushed is None:
        raise _unusable()
    if pushed.arrived_at is None:
        PushedAuthorizationRequest.objects.filter(pk=pushed.pk, arrived_at__isnull=True).update(
            arrived_at=now, expires=now + ROUND_TRIP_LIFETIME
        )
    return pushed


def _refuse_plain_request_if_required(query: QueryDict) -> None:
    if not settings.LATCH_REQUIRE_PAR:
        try:
            application = lookups.application_by_client_id.first(query.get("client_id", ""))
        except ValueError:  # an id the database cannot represent (a NUL byte): no such client
            return
        if application is None or not required_for(application):
            return
    raise Refused(
        "invalid_request", "This application must push its authorization requests to /oauth/par (RFC 9126)."
    )


def pushed_parameters(request: HttpRequest) -> Pushed | None:
    """The pushed request `request`'s request_uri names, as this request must see it; None for a
    plain authorization request. Refused when the request_uri cannot be used, when the URL
    contradicts it, or when the app must push and did not (see the module docstring)."""
    url = request.GET
    if "request_uri" not in url:
        _refuse_plain_request_if_required(url)
        return None
    client_id = url.get("client_id")
    if not client_id:
        raise Refused(
            "invalid_request", "A request_uri comes with the client_id that pushed it (RFC 9126 §4)."
        )
    pushed = _arrived(url["request_uri"], client_id)
    parameters = QueryDict(mutable=True)
    for name, value in pushed.parameters:
        parameters.appendlist(name, value)
    for name in url:
        if name not in ("request_uri", PASSWORD_LEVEL) and url.getlist(name) != parameters.getlist(name):
            raise Refused(
                "invalid_request",
                f"The {name} parameter is not the pushed one; send only client_id and request_uri.",
            )
    signed_in_at = session_signed_in_at(request)
    if signed_in_at is not None and signed_in_at > pushed.created_at:
        parameters = without_fresh_sign_in(parameters)
    if PASSWORD_LEVEL in url and request.user.is_authenticated and not is_mfa_enabled(request.user):
        parameters.pop("acr_values", None)
    return Pushed(parameters=parameters, pushed_request_id=pushed.pk)


def password_level_url(request: HttpRequest) -> str:
    """The request_uri URL of `request` that goes on without the pushed acr_values (see above)."""
    url = QueryDict(request.META.get("QUERY_STRING", ""))
    query = [(name, url.get(name, "")) for name in ("client_id", "request_uri")]
    return f"{request.path}?{urlencode([*query, (PASSWORD_LEVEL, '1')])}"


def as_oauthlib_reads_it(request: HttpRequest) -> HttpRequest:
    """`request` with its query string made of request.GET, the pushed parameters.

    DOT's OAuthLibCore gives oauthlib the query of `request.get_full_path()` (its private
    `_extract_params`), not request.GET; the browser-facing URL must stay the request_uri one.
    Pinned by tests/oauth/test_par_authorize.py.
    """
    seen = copy.copy(request)
    seen.META = {**request.META, "QUERY_STRING": request.GET.urlencode()}
    return seen


def pushed_request_answer(*, pushed_request_id: int) -> bool:
    """Mark the pushed request answered; False when it already was (or is gone).

    Call it in the transaction that issued the answer: of two concurrent answers only one UPDATE
    matches the row, the other waits for it, finds it answered and must roll back.
    """
    answered = PushedAuthorizationRequest.objects.filter(
        pk=pushed_request_id, answered_at__isnull=True
    ).update(answered_at=timezone.now())
    return answered == 1
