"""The API's authentication: DOT's OAuth2Authentication, with DPoP and RFC 9728 added.

`Authorization: Bearer <token>` works as before; `Authorization: DPoP <token>` with a `DPoP` proof
for a DPoP-bound token (RFC 9449 §7); a bound token sent as Bearer is refused. The checks are in
apps/oauth/dpop_resource.py, shared with UserInfo. A refusal's challenge offers both schemes and
names the API's protected-resource metadata (RFC 9728 §5.1).
"""

from oauth2_provider.contrib.rest_framework import OAuth2Authentication

from apps.oauth import dpop_resource
from apps.oauth.resource_metadata import API_PATH, metadata_url


class AccessTokenAuthentication(OAuth2Authentication):
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
