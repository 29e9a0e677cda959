"""POST /oauth/par: the pushed authorization request endpoint (RFC 9126 §2); rules in apps/oauth/par.py."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from apps.dpop.proofs import InvalidDPoPProof
from apps.oauth import dpop_binding, par
from apps.oauth.client_auth import authenticated_client
from apps.oauth.views import (
    ClientAuthThrottleMixin,
    client_authentication_failed,
    duplicated_parameter,
    oauth_error,
)


@method_decorator(csrf_exempt, name="dispatch")
class PushedAuthorizationRequestView(ClientAuthThrottleMixin, View):
    """Answers 201 with a request_uri, or the RFC's JSON error; never a redirect (RFC 9126 §2.3)."""

    http_method_names = ["post"]

    @method_decorator(sensitive_post_parameters("client_secret", "code_challenge"))
    def post(self, request: HttpRequest) -> HttpResponse:
        if problem := duplicated_parameter(request):
            return oauth_error("invalid_request", problem)
        application = authenticated_client(request)
        if application is None:
            return client_authentication_failed()
        try:
            # RFC 9449 §10.1: a proof with the push binds the code to its key (checked as at /oauth/token).
            proof = dpop_binding.request_proof(request)
        except InvalidDPoPProof as refused:
            return oauth_error(refused.error, refused.description)
        try:
            request_uri, expires_in = par.pushed_request_create(
                request=request, application=application, proof_jkt=proof.jkt if proof else ""
            )
        except par.Refused as refused:
            return oauth_error(refused.error, refused.description)
        response = JsonResponse({"request_uri": request_uri, "expires_in": expires_in}, status=201)
        response["Cache-Control"] = "no-store"
        return response
