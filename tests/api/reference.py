"""The resource path Latch had before apps/oauth/bearer.py, kept as the reference the differential
test (tests/api/test_bearer_differential.py) compares the new one with: the API's authentication
subclassing DOT's OAuth2Authentication, and UserInfo as DOT's view. Both go through DOT's
OAuthLibCore.verify_request / create_userinfo_response, oauthlib's ResourceEndpoint and
UserInfoEndpoint, and LatchOAuth2Validator.validate_bearer_token, as they did (commit 0b53353).
"""

import json
from contextlib import ExitStack, contextmanager
from unittest import mock

from django.http import HttpResponse
from django.test import override_settings
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot_views
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.views import APIView

from apps.oauth import dpop_resource
from apps.oauth.resource_metadata import API_PATH, metadata_url
from apps.oauth.views import oauth_error


class ReferenceAccessTokenAuthentication(OAuth2Authentication):
    www_authenticate_realm = "api"

    def authenticate(self, request):
        dpop_resource.present(request._request)
        return super().authenticate(request)

    def authenticate_header(self, request):
        return dpop_resource.challenge(
            request._request,
            realm=self.www_authenticate_realm,
            resource_metadata=metadata_url(request._request, API_PATH),
            error=getattr(request, "oauth2_error", None),
        )


def _oauth_error_of(response: HttpResponse) -> dict[str, str]:
    """The error and its description in an OAuth JSON error body (oauthlib's, or Latch's)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = {}
    return {name: str(body[name]) for name in ("error", "error_description") if name in body} or {
        "error": "invalid_token"
    }


@method_decorator(csrf_exempt, name="dispatch")
class ReferenceUserInfoView(dot_views.UserInfoView):
    def dispatch(self, request, *args, **kwargs):
        if "access_token" in request.GET:
            return oauth_error(
                "invalid_request",
                "Send the access token in the Authorization header, never in the URL.",
                status=401,
                WWW_Authenticate='Bearer realm="Latch", error="invalid_request"',
            )
        presentation = dpop_resource.present(request)
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == 401:
            refusal = presentation.refusal if presentation else None
            if refusal is not None:  # a sender-constraint refusal, not oauthlib's invalid_token
                response = oauth_error(refusal.error, refusal.description, status=401)
            # The challenge states a refusal itself; otherwise it repeats oauthlib's error.
            error = _oauth_error_of(response) if presentation is not None and refusal is None else None
            response["WWW-Authenticate"] = dpop_resource.challenge(
                request, realm="Latch", resource_metadata=metadata_url(request), error=error
            )
        if response.status_code >= 400 and response.content.startswith(b"{"):
            response["Content-Type"] = "application/json"
        return response


@contextmanager
def reference_path():
    """DOT's path: the old authentication class on every API view, DOT's UserInfo at its URL."""
    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(APIView, "authentication_classes", [ReferenceAccessTokenAuthentication])
        )
        stack.enter_context(override_settings(ROOT_URLCONF="tests.api.reference"))
        yield


def _urlpatterns():
    from config.urls import urlpatterns

    # First match wins: the reference UserInfo at the real one's path, everything else as it is.
    return [path("oauth/userinfo", ReferenceUserInfoView.as_view()), *urlpatterns]


urlpatterns = _urlpatterns()
