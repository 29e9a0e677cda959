"""The API's authentication: an access token in the Authorization header (apps/oauth/bearer.py).

`Authorization: Bearer <token>`, or `Authorization: DPoP <token>` with a `DPoP` proof for a
DPoP-bound token (RFC 9449 §7); a bound token sent as Bearer is refused. A refusal's challenge
offers both schemes and names the API's protected-resource metadata (RFC 9728 §5.1). The scope
and token-kind rules are the view's (apps/api/permissions.py).
"""

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from apps.oauth import bearer, dpop_resource
from apps.oauth.models import AccessToken
from apps.oauth.resource_metadata import API_PATH, metadata_url


class AccessTokenAuthentication(BaseAuthentication):
    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[object, AccessToken] | None:
        # DRF's request.POST parses the body with the view's parsers: a body the view cannot
        # read is refused here (415, 400), before the token is looked at, as DOT's path did.
        # The member record comes with the token: the member views read it (member_for_user).
        verdict = bearer.verify(request._request, form=request.POST, with_member=True)
        if verdict.access_token is None:
            # Where DOT put it: read by the challenge below and by apps/api/exceptions.py.
            request.oauth2_error = verdict.error  # type: ignore[attr-defined]
            return None
        return verdict.access_token.user, verdict.access_token

    def authenticate_header(self, request: Request) -> str:
        return dpop_resource.challenge(
            request._request,
            realm=self.www_authenticate_realm,
            resource_metadata=metadata_url(request._request, API_PATH),
            error=getattr(request, "oauth2_error", None),
        )
