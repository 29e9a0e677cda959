"""Latch's OAuth / OIDC endpoints: DOT's views, narrowed and completed where the RFCs ask more."""

import json
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl, urlencode, urlparse, urlunparse

from allauth.mfa.utils import is_mfa_enabled
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.forms import AllowForm
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.signals import app_authorized
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.openid.connect.core.exceptions import InteractionRequired

from apps.accounts.mfa import second_factor_redirect, session_authentication
from apps.accounts.services import (
    fresh_sign_in_outstanding,
    fresh_sign_in_request,
    session_sid,
    session_signed_in_at,
)
from apps.audit import services as audit
from apps.audit.models import AuditEvent
from apps.core.numbers import parse_non_negative_int
from apps.dpop.proofs import InvalidDPoPProof
from apps.oauth import bearer, client_cache, consent, dpop_binding, dpop_resource, par, throttling
from apps.oauth.client_auth import as_oauthlib_request
from apps.oauth.discovery import server_metadata
from apps.oauth.forms import ConsentForm
from apps.oauth.introspection import introspect
from apps.oauth.models import Acr, Application
from apps.oauth.pending_consent import pending_consent_keep, pending_consent_take
from apps.oauth.prompt import prompt_values, without_fresh_sign_in
from apps.oauth.resource_metadata import metadata_url
from apps.oauth.scopes import describe
from apps.oauth.validators import UNLOCKED_GRANTS, SignIn, issued_access_token
from config.csp import extend_policy, origin

logger = logging.getLogger(__name__)

# The pushed request (apps/oauth/par.py) a consent page answers, kept with its parameters.
PUSHED_REQUEST = "latch_pushed_request"
# RFC 8707 lets `resource` repeat, RFC 8693 §2.1 `audience` too; every other parameter must
# appear once (RFC 6749 §3.1, §3.2).
REPEATABLE_PARAMETERS = frozenset({"resource", "audience"})
# RFC 6750 §3.1's invalid_request at UserInfo for a token in the header and in the body.
TWO_METHODS = "Send the access token one way: in the Authorization header or in the form body, not both."
# RFC 6749 §2.3.1: client credentials go in the Authorization header or the body, never the URL
# (access logs, proxies and browser history keep URLs). RFC 7521 §4.2 for the assertion pair.
CLIENT_CREDENTIAL_PARAMETERS = ("client_id", "client_secret", "client_assertion", "client_assertion_type")


def oauth_error(error: str, description: str, status: int = 400, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def client_authentication_failed() -> JsonResponse:
    """RFC 6749 §5.2: 401 invalid_client, with the challenge for the scheme clients use (Basic)."""
    return oauth_error(
        "invalid_client", "Client authentication failed.", status=401, WWW_Authenticate='Basic realm="Latch"'
    )


def duplicated_parameter(request: HttpRequest) -> str | None:
    """What is wrong when a parameter was sent more than once (DOT would silently keep the last)."""
    for source in (request.GET, request.POST):
        for name, values in source.lists():
            if len(values) > 1 and name not in REPEATABLE_PARAMETERS:
                return f"The {name} parameter was sent more than once."
    return None


def too_many_failures(retry_after: int) -> JsonResponse:
    return oauth_error(
        "temporarily_unavailable",
        f"Too many failed client authentications; try again in {retry_after} seconds.",
        status=429,
        Retry_After=str(retry_after),
    )


def credentials_in_url(request: HttpRequest) -> JsonResponse | None:
    """`invalid_request` when the query string carries a client credential, else None."""
    if any(name in request.GET for name in CLIENT_CREDENTIAL_PARAMETERS):
        return oauth_error(
            "invalid_request",
            "Client credentials must not be sent in the URL; use the Authorization header or the body.",
        )
    return None


class ClientAuthThrottleMixin:
    """Slows guessing at endpoints where clients authenticate (see apps/oauth/throttling.py).

    Credentials in the URL are refused first, before anything authenticates or counts them.
    """

    def dispatch(self, request, *args, **kwargs):
        with client_cache.request_scope():
            return self._dispatch(request, *args, **kwargs)

    def _dispatch(self, request, *args, **kwargs):
        if refused := credentials_in_url(request):
            return refused
        if request.method == "POST" and (wait := throttling.blocked_for(request)):
            return self._throttled(request, wait)
        response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        if response.status_code == 401:
            client_id = throttling.presented_client_id(request)
            audit.record(
                AuditEvent.Event.CLIENT_AUTH_FAILED, request=request, client_id=client_id, path=request.path
            )
            if wait := throttling.record_failure(request):
                return self._throttled(request, wait)
        return response

    @staticmethod
    def _throttled(request, wait: int) -> JsonResponse:
        audit.record(
            AuditEvent.Event.THROTTLED,
            request=request,
            client_id=throttling.presented_client_id(request),
            path=request.path,
            retry_after=wait,
        )
        return too_many_failures(wait)


@dataclass(frozen=True)
class ScopeForConsent:
    name: str
    description: str


def session_sign_in(request: HttpRequest, *, with_sid: bool = True) -> SignIn:
    """How the member of this browser session signed in, as the id_token will state it.

    `with_sid=False` for a device grant: its tokens live on the device, which has no part in this
    browser's session, so signing out of the browser does not sign the device out (the device's
    app hears of the member signing out everywhere, by `sub`).
    """
    authentication = session_authentication(request)
    return SignIn(
        amr=authentication.amr,
        acr=Acr.MFA if authentication.multi_factor else Acr.PASSWORD,
        auth_time=session_signed_in_at(request),
        sid=session_sid(request) if with_sid else "",
    )


def with_issuer(uri: str, issuer: str) -> str:
    """`uri` with `iss` = issuer as its only `iss` query parameter (RFC 9207 §2).

    A registered redirect URI may carry a query of its own; an `iss` in it is dropped so the app
    sees one issuer, Latch's. Latch answers only in the query (response_mode=query).
    """
    parts = urlparse(uri)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "iss"]
    return urlunparse(parts._replace(query=urlencode([*query, ("iss", issuer)])))


def asks_for_two_factors(acr_values: str) -> bool:
    """Whether `acr_values` (a space-separated list, most preferred first) can only be met by MFA.

    Values Latch does not define are ignored (OIDC Core §3.1.2.1: they are voluntary). The levels
    are ordered: a two-factor sign-in also meets a request that accepts the password level.
    """
    known = [value for value in acr_values.split() if value in Acr.values]
    return bool(known) and Acr.PASSWORD not in known


class _ConsentPageRequired(Exception):
    """A code was about to be issued without the page to a client that must see it every time."""


class AuthorizeView(dot_views.AuthorizationView):
    """The authorization endpoint with Latch's consent page.

    Requests Latch cannot answer by redirect (unknown client, redirect URI not registered, a
    tampered form) get an error page and never a redirect: sending the member to an unverified
    URI is how open redirectors and code theft start.

    The consent page's form carries no authorization parameter: the request oauthlib validated
    before the page was rendered waits in the session under a single-use id, the form's one hidden
    field (apps/oauth/pending_consent.py), and Allow and Deny answer that request only.

    Consent is remembered (apps/oauth/consent.py): the page shows only scopes the member has not
    allowed yet, and is skipped when there are none, unless the app sends `prompt=consent`.
    OIDC's `prompt=none` never shows a page; `prompt=login` and an exceeded `max_age` (measured
    from when this browser signed in, the id_token's auth_time) ask for a fresh sign-in.

    `acr_values=urn:latch:acr:mfa` asks for a two-factor sign-in. A member whose session has no
    second factor proves one now (allauth's reauthentication) before the code is issued; a member
    with no authenticator at all is told so and chooses: set one up, go on at the password level
    (acr_values asks for `acr` as a voluntary claim, OIDC Core §3.1.2.1 and §5.5.1.1, and the
    id_token's `acr` tells the app what happened), or go back to the app. With `prompt=none`
    neither can happen: `login_required` for the first, `interaction_required` for the second.
    The code carries how the member signed in (`amr`, `acr`) to the id_token (see
    apps/oauth/validators.py SignIn).

    A pushed request (`?client_id=...&request_uri=...`, RFC 9126) is replaced by its parameters as
    the request starts (dispatch), and its answer to the app is sent at most once (`_answered_once`);
    apps/oauth/par.py says how.
    """

    template_name = "oauth/authorize.html"
    error_template_name = "oauth/error.html"
    two_factor_template_name = "oauth/two_factor_requested.html"
    # RFC 9449 §10: the validated request's `dpop_jkt`, for the code it may get.
    dpop_jkt = ""

    pushed_request_id: int | None = None

    def dispatch(self, request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):  # Django answers HEAD with get()
            return super().dispatch(request, *args, **kwargs)
        if problem := duplicated_parameter(request):
            return self._error_page("invalid_request", problem)
        try:
            pushed = par.pushed_parameters(request)
        except par.Refused as refused:
            return self._error_page(refused.error, refused.description)
        if pushed is None:
            return super().dispatch(request, *args, **kwargs)
        request.GET, self.pushed_request_id = pushed.parameters, pushed.pushed_request_id
        return self._answered_once(lambda: super(AuthorizeView, self).dispatch(request, *args, **kwargs))

    def _answered_once(self, respond: Callable[[], HttpResponse]) -> HttpResponse:
        """`respond()`, whose redirect to the app spends the pushed request, if it still can.

        DOT sends every redirect to the app as an OAuth2ResponseRedirect (sign-in and second-factor
        redirects are plain ones). A request already answered rolls back what `respond` wrote, its
        code included, and gets an error page (apps/oauth/par.py).
        """
        if self.pushed_request_id is None:
            return respond()
        with transaction.atomic():
            response = respond()
            if isinstance(response, OAuth2ResponseRedirect) and not par.pushed_request_answer(
                pushed_request_id=self.pushed_request_id
            ):
                transaction.set_rollback(True)
                return self._error_page(
                    "invalid_request_uri",
                    "This authorization request was already answered; start again from the app.",
                )
        return response

    def _prompt(self) -> set[str]:
        return prompt_values(self.request.GET)

    def get_form_class(self):
        return ConsentForm

    def validate_authorization_request(self, request):
        """DOT's, on a pushed request's parameters (apps/oauth/par.py), keeping the `dpop_jkt`
        oauthlib validated (apps/oauth/dpop_binding.py)."""
        if self.pushed_request_id is not None:
            request = par.as_oauthlib_reads_it(request)
        scopes, credentials = super().validate_authorization_request(request)
        self.dpop_jkt = credentials.get("dpop_jkt", "")
        return scopes, credentials

    def get_initial(self):
        # Kept with the consent page's pending request, so its Allow binds the code to the key too.
        return {**super().get_initial(), "dpop_jkt": self.dpop_jkt or None}

    def _validated_parameters(self) -> dict[str, str]:
        """The request as DOT's get() validated it with oauthlib, in DOT's consent-form fields.

        DOT's get_initial reads them from `oauth2_data`, which its get() sets after validating.
        """
        return {key: value for key, value in self.get_initial().items() if value is not None}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        requested = kwargs.get("scopes", [])
        application = kwargs.get("application")
        new = consent.missing_scopes(self.request.user, application, requested) if application else requested
        context["scopes"] = [ScopeForConsent(*pair) for pair in describe(new)]
        context["already_allowed"] = [
            ScopeForConsent(*pair) for pair in describe([s for s in requested if s not in new])
        ]
        context["asks_every_time"] = application is not None and consent.asks_every_time(
            application, kwargs.get("redirect_uri", "")
        )
        context["consent_needed"] = bool(new) or "consent" in self._prompt() or context["asks_every_time"]
        return context

    def render_to_response(self, context, **response_kwargs):
        if "form" in context and self.request.method == "GET":
            # DOT's get() has validated the request and handled skip_authorization (first-party
            # apps); only the consent page itself is left to show.
            if not context["consent_needed"]:
                return self._approve_remembered(context)
            if "none" in self._prompt():
                return self._error_redirect(errors.ConsentRequired(), context["application"])
            # The page is shown: only now is the validated request kept for its Allow or Deny.
            parameters = self._validated_parameters()
            if self.pushed_request_id is not None:
                parameters[PUSHED_REQUEST] = str(self.pushed_request_id)
            request_id = pending_consent_keep(
                session=self.request.session, user_id=self.request.user.pk, parameters=parameters
            )
            context["form"] = ConsentForm(initial={"consent_request": request_id})
        response = super().render_to_response(context, **response_kwargs)
        if "form" in context:  # the consent page; error pages keep the site-wide policy
            # Allow and Deny POST here and Latch answers with a 302 to the redirect_uri, which Chrome
            # checks against form-action: allow that one origin, validated by oauthlib against the
            # app's registered URIs before this page was rendered (config/csp.py). Logos are any
            # https image an admin registered, and they may redirect to a CDN.
            extend_policy(
                response,
                {"form-action": [origin(self.oauth2_data.get("redirect_uri"))], "img-src": ["https:"]},
            )
        return response

    def _approve_remembered(self, context) -> HttpResponse:
        """Every requested scope was allowed before: issue the code as an Allow on the page would."""
        response = self._answer(self._validated_parameters(), allow=True)  # no consent.* audit event
        if _issued_code(response):
            consent.touch(self.request.user, context["application"])
        return response

    def _answer(self, parameters: dict[str, str], allow: bool) -> HttpResponse:
        """DOT's answer to a validated request: a code (Allow) or access_denied (Deny), redirected.

        DOT's form_valid builds its credentials from its own AllowForm; it is given one filled with
        the validated `parameters`, never with what a browser posted.
        """
        self.dpop_jkt = parameters.get("dpop_jkt", "")
        form = AllowForm(data={**parameters, "allow": "true"} if allow else parameters)
        if not form.is_valid():
            return self.form_invalid(form)
        return dot_views.AuthorizationView.form_valid(self, form)

    def _error_redirect(self, error, application) -> HttpResponse:
        """An OIDC error (login_required, ...) sent to the already validated redirect_uri, with state."""
        error.state = self.oauth2_data.get("state")
        return self.error_response(
            OAuthToolkitError(error=error, redirect_uri=self.oauth2_data["redirect_uri"]), application
        )

    def redirect(self, redirect_to, application):
        """Every response redirected to the app, code or error, names the issuer (RFC 9207 §2).

        DOT's views send every redirect to the app through here: the code (consent, remembered
        consent, skip_authorization), Deny, and every error response, including DOT's own
        `login_required`. DOT's COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS adds `iss` to codes only.
        """
        issuer = oauth2_settings.oidc_issuer(self.request)  # the issuer discovery publishes
        return super().redirect(with_issuer(redirect_to, issuer), application)

    def error_response(self, error, application, **kwargs):
        response = super().error_response(error, application, **kwargs)
        if isinstance(response, TemplateResponse):
            response.template_name = self.error_template_name
        return response

    def _error_page(self, error: str, description: str) -> HttpResponse:
        context = {"error": {"error": error, "description": description}}
        return TemplateResponse(self.request, self.error_template_name, context, status=400)

    def _after_sign_in_url(self) -> str:
        """This request without `prompt=login` and `max_age` (other prompt values stay): a fresh
        sign-in satisfies them, and keeping them would ask again and again. A pushed request comes
        back to its own URL, and a sign-in after the push meets them (apps/oauth/par.py)."""
        if self.pushed_request_id is not None:
            return self.request.get_full_path()
        return f"{self.request.path}?{without_fresh_sign_in(self.request.GET).urlencode()}"

    def _sign_in_again(self, next_url: str | None = None) -> HttpResponse:
        """Send the member to the sign-in page, and back to `next_url` afterwards."""
        return redirect_to_login(
            next_url or self._after_sign_in_url(),
            resolve_url(self.get_login_url()),
            self.get_redirect_field_name(),
        )

    def _fresh_sign_in(self) -> HttpResponse:
        """prompt=login or an exceeded max_age, for a signed-in member.

        The session is not ended (a GET that signs members out lets any page do it with an <img>):
        the return URL, which no longer asks, is remembered as waiting for a sign-in newer than
        now (apps/accounts/services.py), and the sign-in page replaces the session when the member
        signs in. Coming back without signing in is sent to sign in again (get()).
        """
        next_url = self._after_sign_in_url()
        fresh_sign_in_request(self.request, next_url)
        return self._sign_in_again(next_url)

    def _max_age(self) -> int | None:
        """OIDC's max_age in seconds; ValueError unless it is plain ASCII digits (apps/core/numbers.py)."""
        max_age = self.request.GET.get("max_age")
        return None if max_age is None else parse_non_negative_int(max_age)

    def _invalid_max_age(self, application) -> HttpResponse:
        return self._error_redirect(
            errors.InvalidRequestError(description="max_age must be a number of seconds."), application
        )

    def _validated_application(self) -> Application:
        """Validate the request as DOT's get() does (OAuthToolkitError when it fails), keep what
        oauthlib found in `oauth2_data`, and return its application: errors can be redirected now."""
        _scopes, self.oauth2_data = self.validate_authorization_request(self.request)
        return Application.objects.get(client_id=self.oauth2_data["client_id"])

    def handle_no_permission(self):
        # Signed out: DOT answers prompt=none with login_required (after validating the client and
        # redirect_uri). Any sign-in is fresh, so it satisfies prompt=login and max_age.
        try:
            self._max_age()
        except ValueError:
            try:
                application = self._validated_application()
            except OAuthToolkitError as error:
                return self.error_response(error, application=None)
            return self._invalid_max_age(application)
        if "none" not in self._prompt() and ("login" in self._prompt() or "max_age" in self.request.GET):
            return self._sign_in_again()
        return super().handle_no_permission()

    def _needs_fresh_sign_in(self, max_age: int | None) -> bool:
        if "login" in self._prompt():
            return True
        if max_age is None:
            return False
        signed_in_at = session_signed_in_at(self.request)
        return signed_in_at is None or (timezone.now() - signed_in_at).total_seconds() > max_age

    def create_authorization_response(self, request, scopes, credentials, allow):
        # Every path that issues a code comes here (the consent form, remembered consent and DOT's
        # skip_authorization): the code records how this session's member signed in.
        if request.method == "GET" and consent.asks_every_time(
            self.oauth2_data["application"], credentials["redirect_uri"]
        ):
            # Only DOT's skip_authorization gets here on a GET for such a client (remembered consent
            # does not apply to it, get_context_data): it sees the page instead (get()).
            raise _ConsentPageRequired
        credentials = {
            **credentials,
            "latch_sign_in": session_sign_in(request),
            dpop_binding.REQUESTED_JKT_CREDENTIAL: self.dpop_jkt,
        }
        if self.pushed_request_id is not None:
            request = par.as_oauthlib_reads_it(request)
        return super().create_authorization_response(request, scopes, credentials, allow)

    def _check_two_factors(self, application) -> HttpResponse | None:
        """acr_values asking for two factors, for a signed-in member; None to carry on."""
        if not asks_for_two_factors(self.request.GET.get("acr_values", "")):
            return None
        if session_authentication(self.request).multi_factor:
            return None
        has_authenticator = is_mfa_enabled(self.request.user)
        if "none" in self._prompt():
            error = errors.LoginRequired() if has_authenticator else InteractionRequired()
            return self._error_redirect(error, application)
        if has_authenticator:
            return second_factor_redirect(self.request, self.request.get_full_path())
        query = self.request.GET.copy()
        query.pop("acr_values")
        context = {
            "application": application,
            "continue_url": (
                f"{self.request.path}?{query.urlencode()}"
                if self.pushed_request_id is None
                else par.password_level_url(self.request)
            ),
            "cancel_url": self._error_redirect(errors.AccessDeniedError(), application)["Location"],
        }
        return TemplateResponse(self.request, self.two_factor_template_name, context)

    def _check_prompt(self) -> HttpResponse | None:
        """prompt=none / login, max_age and acr_values for a signed-in member; None to carry on."""
        try:
            application = self._validated_application()
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        prompt = self._prompt()
        if "none" in prompt and len(prompt) > 1:  # oauthlib checks this for OIDC requests only
            return self._error_redirect(
                errors.InvalidRequestError(
                    description="Prompt none is mutually exclusive with other values."
                ),
                application,
            )
        try:
            max_age = self._max_age()
        except ValueError:
            return self._invalid_max_age(application)
        if not self._needs_fresh_sign_in(max_age):
            return self._check_two_factors(application)
        if "none" in prompt:
            return self._error_redirect(errors.LoginRequired(), application)
        return self._fresh_sign_in()

    def get(self, request, *args, **kwargs):
        if "approval_prompt" in request.GET:
            # DOT's pre-OIDC switch would let the app choose its token-based "auto" approval and
            # so skip the page despite prompt=consent; remembered consent decides instead.
            request.GET = request.GET.copy()
            del request.GET["approval_prompt"]
        if fresh_sign_in_outstanding(request, request.get_full_path()):
            # Sent to sign in again for this request, and back without having done so.
            return self._sign_in_again(request.get_full_path())
        if {"prompt", "max_age", "acr_values"} & set(request.GET):
            response = self._check_prompt()
            if response is not None:
                return response
        try:
            return super().get(request, *args, **kwargs)
        except _ConsentPageRequired:
            # DOT's get() has validated the request and stored the page's context in oauth2_data
            # before it tries skip_authorization (pinned by tests/oauth/test_native_app_consent.py).
            return self.render_to_response(self.get_context_data(**self.oauth2_data))

    def form_valid(self, form):
        parameters = pending_consent_take(
            session=self.request.session,
            request_id=form.cleaned_data["consent_request"],
            user_id=self.request.user.pk,
        )
        if parameters is None:
            return self._error_page(
                "invalid_request",
                "This consent page was already answered, has expired or was not shown in this browser; "
                "start again from the app.",
            )
        # Validated when the page was shown, but an administrator may have changed the app since.
        application = Application.objects.filter(client_id=parameters["client_id"]).first()
        if application is None:
            return self._error_page("invalid_client", "The application is not registered with Latch.")
        if not application.redirect_uri_allowed(parameters["redirect_uri"]):
            # oauthlib checks the redirect URI again before issuing a code, but DOT answers Deny
            # before oauthlib sees the request: check it here for both (RFC 6749 §3.1.2.4).
            return self._error_page(
                "invalid_request", "The app's redirect URI is no longer registered; start again from the app."
            )
        allowed = form.cleaned_data["allow"]
        pushed_request = parameters.pop(PUSHED_REQUEST, None)
        self.pushed_request_id = None if pushed_request is None else int(pushed_request)
        response = self._answered_once(lambda: self._answer(parameters, allow=allowed))
        if response.status_code == 302:  # answered to the app: consent given or refused
            audit.record(
                AuditEvent.Event.CONSENT_GRANTED if allowed else AuditEvent.Event.CONSENT_DENIED,
                request=self.request,
                user=self.request.user,
                client_id=parameters["client_id"],
                scope=parameters["scope"],
            )
            if allowed and _issued_code(response):
                # oauthlib validated these scopes against the app before issuing the code.
                consent.grant(self.request.user, application, parameters["scope"].split())
        return response

    def form_invalid(self, form):
        return self._error_page(
            "invalid_request", "The consent form was incomplete; start again from the app."
        )


def _issued_code(response: HttpResponse) -> bool:
    return response.status_code == 302 and "code" in parse_qs(urlparse(response["Location"]).query)


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(ClientAuthThrottleMixin, dot_views.TokenView):
    """The token endpoint, one transaction per request, but for client_credentials.

    The validator locks the authorization code or refresh token it is spending; holding the lock
    until the new tokens are committed is what makes concurrent replays lose. A client_credentials
    request spends nothing: it reads its client (apps/oauth/client_cache.py) and stores one access
    token with its audit row, by one statement (LatchOAuth2Validator._save_bearer_token), which
    PostgreSQL runs atomically by itself; a transaction around it would only add BEGIN and COMMIT,
    two round trips of the five it took. Its replay caches (client assertions, DPoP proofs) are
    Redis's, outside any transaction anyway.
    """

    UNLOCKED_GRANTS = UNLOCKED_GRANTS  # the validator's (see above); a subclass may lock them all

    @method_decorator(never_cache)
    def post(self, request, *args, **kwargs):
        if problem := duplicated_parameter(request):
            return oauth_error("invalid_request", problem)
        try:
            proof = dpop_binding.request_proof(request)
        except InvalidDPoPProof as refused:  # RFC 9449 §5, §8: before any code or token is spent
            return oauth_error(refused.error, refused.description)
        unlocked = request.POST.get("grant_type") in self.UNLOCKED_GRANTS
        with dpop_binding.bound_to(proof), nullcontext() if unlocked else transaction.atomic():
            return self.authorization_flow_token_response(request)

    @method_decorator(sensitive_post_parameters("password", "client_secret"))
    def authorization_flow_token_response(self, request, *args, **kwargs) -> HttpResponse:
        """DOT's response, with DOT's `app_authorized` signal sent for the token the validator just
        created, rather than after a query that finds it again by its value."""
        context = issued_access_token.set(None)
        try:
            _url, headers, body, status = self.create_token_response(request)
            token = issued_access_token.get()
        finally:
            issued_access_token.reset(context)
        if status == 200 and token is not None:
            app_authorized.send(sender=self, request=request, token=token)
        # An error raised while the tokens are saved (RFC 8707's invalid_target) reaches DOT as an
        # exception, and DOT answers it without oauthlib's headers: its body is JSON all the same.
        response = HttpResponse(content=body, status=status, content_type="application/json")
        for name, value in headers.items():
            response[name] = value
        return response


@method_decorator(csrf_exempt, name="dispatch")
class RevokeTokenView(ClientAuthThrottleMixin, dot_views.RevokeTokenView):
    def post(self, request, *args, **kwargs):
        if problem := duplicated_parameter(request):
            return oauth_error("invalid_request", problem)
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            # RFC 7009 answers 200 for unknown tokens too: this records the request, not a hit.
            audit.record(
                AuditEvent.Event.TOKEN_REVOKED,
                request=request,
                client_id=throttling.presented_client_id(request),
                hint=request.POST.get("token_type_hint", ""),
            )
        return response


@method_decorator(csrf_exempt, name="dispatch")
class UserInfoView(View):
    """OIDC UserInfo (OIDC Core §5.3): the member's claims the token's scopes allow, for a token
    carrying `openid`, checked by apps/oauth/bearer.py like the API's.

    Tokens in the URL are refused (RFC 9700 §2.5: they leak into logs and history); DOT applies
    COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT to protected resources but not to its userinfo
    view. A token in the Authorization header and in the form body is 400 invalid_request (RFC 6750
    §2, §3.1), where DOT read the header and ignored the body. DPoP-bound tokens come with their
    proof (apps/oauth/dpop_resource.py). Otherwise the answers are those of DOT's UserInfoView and
    oauthlib's UserInfoEndpoint, which this view replaced.
    """

    scopes = ("openid",)

    def dispatch(self, request, *args, **kwargs):
        if "access_token" in request.GET:
            return oauth_error(
                "invalid_request",
                "Send the access token in the Authorization header, never in the URL.",
                status=401,
                WWW_Authenticate='Bearer realm="Latch", error="invalid_request"',
            )
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.userinfo(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        return self.userinfo(request)

    def userinfo(self, request: HttpRequest) -> HttpResponse:
        # RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each
        # request". Any Authorization header is one (Latch reads the token from it whenever there
        # is one), an `access_token` in the form body another, empty or not. Decided here, before
        # the token is looked up or a DPoP proof spent: the API parses JSON only, so no form body
        # reaches bearer.verify there. Django reads a form body on POST only, as §2.2 allows.
        if "HTTP_AUTHORIZATION" in request.META and "access_token" in request.POST:
            dpop_resource.record_scheme(request)
            return self.refusal(request, errors.InvalidRequestError(description=TWO_METHODS))
        # RFC 6750 §2.2: a form body may carry the token (OIDC Core §5.3.1 allows POST).
        # An RFC 8707 restricted token is checked against UserInfo's absolute URL, as the API's
        # is: one for Latch (the issuer, which Latch's resource metadata names as this resource)
        # works here, one for another server does not. DOT compared the bare path, which no
        # absolute resource URI matches, and so refused even a token for Latch itself.
        verdict = bearer.verify(request, form=request.POST, scopes=self.scopes)
        token = verdict.access_token
        if token is None:
            return self.refusal(request, errors.InvalidTokenError())
        scopes = list(token.scopes)  # those the scope registry knows, as DOT's request carried them
        if "openid" not in scopes:
            return self.refusal(request, errors.InsufficientScopeError())
        claims = oauth2_settings.OAUTH2_VALIDATOR_CLASS().get_userinfo_claims(
            UserInfoRequest(user=token.user, scopes=scopes, access_token=token, client=token.application)
        )
        if "sub" not in claims:
            logger.error("oauth.userinfo_without_sub")
            return self.refusal(request, errors.ServerError(status_code=500))
        return HttpResponse(json.dumps(claims), content_type="application/json")

    @staticmethod
    def refusal(request: HttpRequest, error: errors.OAuth2Error) -> HttpResponse:
        """oauthlib's error body, with the challenge of both schemes (RFC 6750 §3, RFC 9449 §7.1)
        on a 401 and on a 400 invalid_request (a token sent two ways, §3.1): a sender-constraint
        refusal is stated as such, otherwise the challenge repeats the body's error (none when no
        Authorization header was sent)."""
        response = HttpResponse(error.json, status=error.status_code, content_type="application/json")
        if error.status_code != 401 and error.error != "invalid_request":
            return response
        presentation = dpop_resource.presentation_of(request)
        refusal = presentation.refusal if presentation else None
        if refusal is not None:
            response = oauth_error(refusal.error, refusal.description, status=401)
        challenge_error = None
        if presentation is not None and refusal is None:
            challenge_error = {"error": error.error, "error_description": error.description}
        response["WWW-Authenticate"] = dpop_resource.challenge(
            request, realm="Latch", resource_metadata=metadata_url(request), error=challenge_error
        )
        return response


@dataclass(frozen=True)
class UserInfoRequest:
    """What DOT's claim hooks (get_userinfo_claims, get_oidc_claims, get_additional_claims) read
    of the oauthlib request they were written for."""

    user: object
    scopes: list[str]
    access_token: object
    client: object


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectView(ClientAuthThrottleMixin, View):
    """RFC 7662 for clients that authenticate: a client about its own tokens, a resource server
    (Application.is_resource_server) about any token it was handed (apps/oauth/introspection.py).

    DOT's own introspection view wants a bearer token with an `introspection` scope instead; the
    RFC's common practice, and what client libraries send, is client authentication.
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        core = get_oauthlib_core()
        oauthlib_request = as_oauthlib_request(request, core)
        if not core.server.request_validator.authenticate_client(oauthlib_request):
            logger.info("oauth.introspect_client_auth_failed")
            return client_authentication_failed()
        if problem := duplicated_parameter(request):
            return oauth_error("invalid_request", problem)
        token = request.POST.get("token", "")
        if not token:
            return oauth_error("invalid_request", "The token parameter is missing.")
        claims = introspect(
            token,
            request.POST.get("token_type_hint"),
            oauth2_settings.oidc_issuer(request),
            caller=oauthlib_request.client,
        )
        response = JsonResponse(claims)
        response["Cache-Control"] = "no-store"
        return response


@method_decorator(cache_control(public=True, max_age=3600), name="dispatch")
class ServerMetadataView(View):
    """/.well-known/openid-configuration and /.well-known/oauth-authorization-server (RFC 8414)."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(
            json.dumps(server_metadata(request), indent=2), content_type="application/json"
        )
        response["Access-Control-Allow-Origin"] = "*"
        return response
