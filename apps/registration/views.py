"""/oauth/register (RFC 7591 §3) and /oauth/register/<client_id> (RFC 7592 §2); rules in services.py."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import parse_bearer_token

from apps.audit import services as audit
from apps.audit.models import AuditEvent
from apps.oauth.views import oauth_error
from apps.registration import selectors, services
from apps.registration.metadata import MAX_BODY_BYTES, InvalidMetadata, parse_body, registered_metadata
from apps.registration.models import ClientRegistration
from apps.registration.throttling import registration_blocked_for, registration_token_failed


def invalid_token(description: str, *, presented: bool) -> JsonResponse:
    """401 with the Bearer challenge; RFC 6750 §3.1 names the error only when a token was sent."""
    challenge = 'Bearer realm="Latch", error="invalid_token"' if presented else 'Bearer realm="Latch"'
    return oauth_error("invalid_token", description, status=401, WWW_Authenticate=challenge)


def client_information(
    request: HttpRequest, registration: ClientRegistration, **credentials: Any
) -> dict[str, Any]:
    """The client information response (RFC 7591 §3.2.1, RFC 7592 §3), without secrets unless given."""
    application = registration.application
    issuer = oauth2_settings.oidc_issuer(request)
    path = reverse("oauth2_provider:client-configuration", kwargs={"client_id": application.client_id})
    information: dict[str, Any] = {
        "client_id": application.client_id,
        "client_id_issued_at": int(registration.created.timestamp()),
    }
    if credentials.get("client_secret"):
        information["client_secret"] = credentials["client_secret"]
        information["client_secret_expires_at"] = 0  # never
    if credentials.get("registration_access_token"):
        information["registration_access_token"] = credentials["registration_access_token"]
    information["registration_client_uri"] = issuer + path
    information.update(registered_metadata(application, contacts=registration.contacts))
    return information


def no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


class RegistrationEndpoint(View):
    """What both endpoints share: off unless LATCH_CLIENT_REGISTRATION, JSON in, a throttled Bearer token."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.LATCH_CLIENT_REGISTRATION:
            return oauth_error("not_found", "Dynamic client registration is not enabled.", status=404)
        if request.GET:
            # RFC 6750 §2.3 tokens in the URL end up in logs; nothing here is read from the query.
            return oauth_error("invalid_request", "This endpoint takes no query parameters.")
        if wait := registration_blocked_for(request):
            audit.record(AuditEvent.Event.THROTTLED, request=request, path=request.path, retry_after=wait)
            return oauth_error(
                "temporarily_unavailable",
                f"Too many wrong tokens; try again in {wait} seconds.",
                status=429,
                Retry_After=str(wait),
            )
        return super().dispatch(request, *args, **kwargs)

    def bearer_token(self, request: HttpRequest) -> str | None:
        return parse_bearer_token(request.headers.get("Authorization", ""))

    def refused_token(self, request: HttpRequest, description: str) -> JsonResponse:
        registration_token_failed(request)
        presented = bool(request.headers.get("Authorization"))
        return invalid_token(description, presented=presented)

    def metadata(self, request: HttpRequest) -> dict[str, Any]:
        """The JSON object the request carries; raises InvalidMetadata."""
        if request.content_type != "application/json":
            raise InvalidMetadata("The request body must be application/json (RFC 7591 §3.1).")
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            raise InvalidMetadata("The request body is too large.")
        return parse_body(request.body)


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationView(RegistrationEndpoint):
    """POST /oauth/register with an initial access token: 201 and the client's credentials."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        initial_token = self.bearer_token(request)
        if initial_token is None:
            return self.refused_token(request, "An initial access token (Bearer) is required.")
        try:
            selectors.initial_token_check(initial_token)
            data = self.metadata(request)
            registered = services.client_register(initial_token=initial_token, data=data, request=request)
        except services.InvalidToken as refused:
            return self.refused_token(request, refused.description)
        except InvalidMetadata as refused:
            return oauth_error(refused.error, refused.description)
        information = client_information(
            request,
            registered.registration,
            client_secret=registered.client_secret,
            registration_access_token=registered.registration_access_token,
        )
        return no_store(JsonResponse(information, status=201))


@method_decorator(csrf_exempt, name="dispatch")
class ClientConfigurationView(RegistrationEndpoint):
    """RFC 7592: GET reads, PUT replaces, DELETE removes the client, with its registration access token."""

    http_method_names = ["get", "put", "delete"]

    def registration(self, request: HttpRequest, client_id: str) -> ClientRegistration:
        token = self.bearer_token(request)
        if token is None:
            raise services.InvalidToken("A registration access token (Bearer) is required.")
        return selectors.registration_for(client_id=client_id, registration_access_token=token)

    def get(self, request: HttpRequest, client_id: str) -> HttpResponse:
        try:
            registration = self.registration(request, client_id)
        except services.InvalidToken as refused:
            return self.refused_token(request, refused.description)
        return no_store(JsonResponse(client_information(request, registration)))

    def put(self, request: HttpRequest, client_id: str) -> HttpResponse:
        try:
            registration = self.registration(request, client_id)
            data = self.metadata(request)
            registration = services.client_registration_update(
                registration=registration, data=data, request=request
            )
        except services.InvalidToken as refused:
            return self.refused_token(request, refused.description)
        except InvalidMetadata as refused:
            return oauth_error(refused.error, refused.description)
        return no_store(JsonResponse(client_information(request, registration)))

    def delete(self, request: HttpRequest, client_id: str) -> HttpResponse:
        try:
            registration = self.registration(request, client_id)
        except services.InvalidToken as refused:
            return self.refused_token(request, refused.description)
        services.client_registration_delete(registration=registration, request=request)
        return no_store(HttpResponse(status=204))
