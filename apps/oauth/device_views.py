"""The device authorization grant's two pages (RFC 8628): the device's endpoint and the member's.

- POST /oauth/device_authorization (DeviceAuthorizationView): a device asks for its codes.
- /oauth/device (DeviceView): the signed-in member types the user code, sees the consent page
  and answers Allow or Deny; the device learns the answer by polling the token endpoint.

Why not DOT's device views: its authorization endpoint reads `client_id` from the body only (a
confidential client's HTTP Basic gives a 500), never checks the requested scopes or that the
client may use the grant, and stores both codes in plaintext; its user-code and confirm pages
look codes up in plaintext, carry the user code in the confirm URL, and limit nothing.
"""

from typing import cast

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request as OAuthlibRequest

from apps.audit import services as audit
from apps.audit.models import AuditEvent
from apps.oauth import device, device_throttling
from apps.oauth.client_auth import authenticated_client
from apps.oauth.forms import ConsentForm
from apps.oauth.models import Application
from apps.oauth.pending_consent import pending_consent_keep, pending_consent_take
from apps.oauth.scopes import describe
from apps.oauth.views import (
    ClientAuthThrottleMixin,
    ScopeForConsent,
    client_authentication_failed,
    duplicated_parameter,
    oauth_error,
    session_sign_in,
)

# The device page's consent requests wait in the session apart from the code flow's.
PENDING_DEVICE_CONSENT = "_latch_pending_device_consent"


def _member_id(request: HttpRequest) -> int:
    """The signed-in member's id: DeviceView.dispatch sends everyone else to sign in first."""
    return cast(int, request.user.pk)


@method_decorator(csrf_exempt, name="dispatch")
class DeviceAuthorizationView(ClientAuthThrottleMixin, View):
    """RFC 8628 §3.1, §3.2: a device's codes, for a client allowed the device grant and its scopes.

    Scopes are the app's allowed ones, as for every grant: none asked means the app's default
    scopes (apps/oauth/scopes.py), and any outside them is `invalid_scope`.
    """

    http_method_names = ["post"]

    @method_decorator(never_cache)
    def post(self, request: HttpRequest) -> HttpResponse:
        if problem := duplicated_parameter(request):
            return oauth_error("invalid_request", problem)
        client = authenticated_client(request)
        if client is None:
            return client_authentication_failed()
        if not client.allows_grant_type(Application.GRANT_DEVICE_CODE):
            return oauth_error(
                "unauthorized_client", "This application may not use the device authorization grant."
            )
        validator = get_oauthlib_core().server.request_validator
        oauthlib_request = OAuthlibRequest(request.build_absolute_uri(), "POST")
        oauthlib_request.client = client
        scopes = request.POST.get("scope", "").split() or validator.get_default_scopes(
            client.client_id, oauthlib_request
        )
        if not validator.validate_scopes(client.client_id, scopes, client, oauthlib_request):
            return oauth_error("invalid_scope", "The requested scope is not allowed for this application.")
        authorization = device.device_authorization_create(application=client, scopes=list(scopes))
        issuer = oauth2_settings.oidc_issuer(request)
        response = JsonResponse(authorization.response(issuer + reverse("oauth2_provider:device")))
        response["Cache-Control"] = "no-store"
        return response


class UserCodeForm(forms.Form):
    user_code = forms.CharField(
        label="Code shown on your device",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


@method_decorator(never_cache, name="dispatch")
class DeviceView(View):
    """The member's side of the device grant: type the code, then Allow or Deny.

    A code arriving in the URL (verification_uri_complete) only fills the field: the member still
    submits it, so a link alone never brings a device's consent page up. The page is the code
    flow's consent page, showing every scope the device asks for (remembered consent does not
    apply: a device is a new place). Allow and Deny answer the device authorization the page was
    shown for, kept in the session under a single-use id (apps/oauth/pending_consent.py); the form
    posts nothing else that is trusted. Wrong codes are throttled (apps/oauth/device_throttling.py).
    """

    template_name = "oauth/device.html"
    consent_template_name = "oauth/authorize.html"
    done_template_name = "oauth/device_done.html"
    error_template_name = "oauth/error.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        form = UserCodeForm(initial={"user_code": request.GET.get("user_code", "")[:32]})
        return TemplateResponse(request, self.template_name, {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        if "consent_request" in request.POST:
            return self._answer(request)
        return self._enter_code(request)

    def _enter_code(self, request: HttpRequest) -> HttpResponse:
        form = UserCodeForm(request.POST)
        if wait := device_throttling.user_code_blocked_for(request):
            audit.record(
                AuditEvent.Event.THROTTLED,
                request=request,
                user=request.user,
                path=request.path,
                retry_after=wait,
            )
            form.add_error(None, f"Too many wrong codes. Try again in {wait} seconds.")
            return TemplateResponse(request, self.template_name, {"form": form}, status=429)
        found = form.is_valid() and device.device_grant_waiting(
            typed_user_code=form.cleaned_data["user_code"]
        )
        if not found:
            device_throttling.user_code_failed(request)
            form.add_error(
                "user_code", "This code is not valid or has expired. Check the code on your device."
            )
            return TemplateResponse(request, self.template_name, {"form": form}, status=400)
        grant, application = found
        request_id = pending_consent_keep(
            session=request.session,
            user_id=_member_id(request),
            parameters={"device_grant": str(grant.pk)},
            store=PENDING_DEVICE_CONSENT,
        )
        context = {
            "application": application,
            "scopes": [ScopeForConsent(*pair) for pair in describe(grant.scope.split())],
            "already_allowed": [],
            "asks_every_time": False,
            "form": ConsentForm(initial={"consent_request": request_id}),
        }
        return TemplateResponse(request, self.consent_template_name, context)

    def _answer(self, request: HttpRequest) -> HttpResponse:
        form = ConsentForm(request.POST)
        if not form.is_valid():
            return self._answered_before(request)
        parameters = pending_consent_take(
            session=request.session,
            request_id=form.cleaned_data["consent_request"],
            user_id=_member_id(request),
            store=PENDING_DEVICE_CONSENT,
        )
        if parameters is None:
            return self._answered_before(request)
        allow = form.cleaned_data["allow"]
        answered = device.device_grant_answer(
            grant_id=int(parameters["device_grant"]),
            user=request.user,
            allow=allow,
            sign_in=session_sign_in(request, with_sid=False),
        )
        if answered is None:
            return self._answered_before(request)
        grant, application = answered
        audit.record(
            AuditEvent.Event.CONSENT_GRANTED if allow else AuditEvent.Event.CONSENT_DENIED,
            request=request,
            user=request.user,
            client_id=grant.client_id,
            scope=grant.scope,
            grant_type=Application.GRANT_DEVICE_CODE,
        )
        return TemplateResponse(
            request, self.done_template_name, {"application": application, "allowed": allow}
        )

    def _answered_before(self, request: HttpRequest) -> HttpResponse:
        description = (
            "This device request was already answered, has expired or was not shown in this browser. "
            "Start again on your device."
        )
        context = {"error": {"error": "invalid_request", "description": description}}
        return TemplateResponse(request, self.error_template_name, context, status=400)
