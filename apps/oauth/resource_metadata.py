"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for Latch's two protected resources.

- `/.well-known/oauth-protected-resource`: Latch itself, the resource UserInfo belongs to;
- `/.well-known/oauth-protected-resource/api/v1`: the member API (§3.1, the path inserted after
  the well-known name).

DOT 3.4's view builds the document; Latch names the resource and the authorization server from
LATCH_ISSUER rather than from the request's Host header (as discovery does), and adds what DPoP
clients need (RFC 9449 §5.1's algorithms). The 401 challenges of both resources point here
(`resource_metadata`, §5.1; apps/oauth/dpop_resource.py).
"""

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import cache_control
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views.metadata import OAuthProtectedResourceMetadataView

from apps.dpop.proofs import SUPPORTED_ALGORITHMS

API_PATH = "/api/v1"


def metadata_url(request: HttpRequest, resource_path: str = "") -> str:
    """Where the metadata of the resource at `resource_path` ("" for Latch itself) is published."""
    name = (
        "oauth2_provider:protected-resource-metadata-api"
        if resource_path
        else "oauth2_provider:protected-resource-metadata"
    )
    return oauth2_settings.oidc_issuer(request) + reverse(name)


@method_decorator(cache_control(public=True, max_age=3600), name="dispatch")
class ProtectedResourceMetadataView(OAuthProtectedResourceMetadataView):
    http_method_names = ["get", "head", "options"]
    resource_path = ""  # "" Latch itself (UserInfo); API_PATH the member API

    def get_resource(self, request):
        # §3.3: the `resource` must be the URL whose metadata this is, or the client discards it.
        return oauth2_settings.oidc_issuer(request) + self.resource_path

    def get_authorization_servers(self, request):
        return [oauth2_settings.oidc_issuer(request)]

    def get(self, request, *args, **kwargs) -> HttpResponse:
        document = json.loads(super().get(request, *args, **kwargs).content)
        document["resource_documentation"] = oauth2_settings.oidc_issuer(request) + reverse("api-docs")
        document["dpop_signing_alg_values_supported"] = list(SUPPORTED_ALGORITHMS)
        # A bearer token is accepted; a DPoP-bound one only with its proof (RFC 9449 §7).
        document["dpop_bound_access_tokens_required"] = False
        response = JsonResponse(document)
        response["Access-Control-Allow-Origin"] = "*"
        return response
