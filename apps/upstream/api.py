"""The apps' door to the vault: `POST /api/v1/connections/{provider}/token`.

An app acting for a member (a user token with the `connections` scope) gets the member's upstream
access token for the provider, never the refresh token. Answers:

- 200: `access_token`, `token_type`, `expires_at` (null: the provider did not say), `scopes` (what
  the token carries: the scopes asked for, narrowed by a refresh where the member granted more).
- 403 `access_denied`: the app declared no requirement for this provider (admin: Application
  upstream requirements). 403 `invalid_scope`: scopes beyond what the app declared.
- 403 `insufficient_scope` (RFC 6750 §3.1) with `scope` (what the app asked for) and, when the
  provider said, `provider_scope`: the provider cannot narrow the token to those scopes, and the
  administrator did not allow its tokens to carry more than asked.
- Without an active connection covering the scopes (`reason`: not_connected, expired, revoked or
  missing_scopes), what the app's requirement says: `prompt_connect` 409 `not_connected` with a
  `connect_url` to send the member to; `ignore` 409 `not_connected` without one (the app carries on);
  `error` 403 `access_denied` (the app declared it cannot work without the connection). 409 because
  the request is fine but the member's state conflicts with it, and the app can resolve that.
- 503 `temporarily_unavailable` (Retry-After): the token needed a refresh and the provider did not
  answer; nothing changed, try again later.
- 404: no such (enabled) provider.
"""

from typing import cast
from urllib.parse import urlencode

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.permissions import TokenKind
from apps.oauth.models import AccessToken
from apps.upstream import services
from apps.upstream.models import ApplicationUpstreamRequirement, UpstreamProvider

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1, for any token
RETRY_AFTER_SECONDS = 30


class ConnectionTokenApi(APIView):
    """The member's access token at an upstream provider, fresh (refreshed first when about to expire).

    Errors: 403 access_denied / invalid_scope (not declared by the app), 403 insufficient_scope
    (cannot be narrowed to the scopes), 409 not_connected (with connect_url when the app's
    requirement is prompt_connect), 503 temporarily_unavailable.
    """

    required_scopes = "connections"
    token_kind = TokenKind.USER

    class InputSerializer(serializers.Serializer):
        scopes = serializers.ListField(
            child=serializers.CharField(max_length=200),
            required=False,
            max_length=100,
            help_text="Upstream scopes the app needs, within those it declared; empty or left out: all.",
        )

    class OutputSerializer(serializers.Serializer):
        access_token = serializers.CharField()
        token_type = serializers.CharField()
        expires_at = serializers.DateTimeField(allow_null=True)
        scopes = serializers.ListField(child=serializers.CharField())

    class NotConnectedSerializer(serializers.Serializer):
        error = serializers.CharField(help_text="not_connected (409), access_denied (403)")
        error_description = serializers.CharField()
        reason = serializers.ChoiceField(choices=["not_connected", "expired", "revoked", "missing_scopes"])
        connect_url = serializers.URLField(
            required=False, help_text="Where to send the member to connect (requirement prompt_connect)."
        )

    class ErrorSerializer(serializers.Serializer):
        error = serializers.CharField()
        error_description = serializers.CharField()

    class InsufficientScopeSerializer(serializers.Serializer):
        error = serializers.CharField(help_text="insufficient_scope")
        error_description = serializers.CharField()
        scope = serializers.CharField(help_text="The upstream scopes asked for, space-separated.")
        provider_scope = serializers.CharField(
            required=False, help_text="The scopes the provider's token carries, when it said."
        )

    @extend_schema(
        operation_id="connections_token",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            403: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="ConnectionTokenRefused",
                    serializers=[NotConnectedSerializer, InsufficientScopeSerializer],
                    resource_type_field_name=None,
                ),
                description="access_denied or invalid_scope: beyond what the app declared; access_denied "
                "with a reason: not connected, and the app's requirement is on_missing=error; "
                "insufficient_scope: the token cannot be narrowed to the scopes asked for.",
            ),
            404: OpenApiResponse(ErrorSerializer, description="No such provider."),
            409: OpenApiResponse(NotConnectedSerializer, description="not_connected."),
            503: OpenApiResponse(ErrorSerializer, description="temporarily_unavailable: try again later."),
        },
    )
    def post(self, request: Request, provider: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = cast(AccessToken, request.auth)
        try:
            vault_token = services.connection_token(
                user=request.user,
                application=token.application,
                provider_slug=provider,
                scopes=data.validated_data.get("scopes", []),
            )
        except UpstreamProvider.DoesNotExist:
            raise NotFound(f"There is no provider {provider!r}.") from None
        except services.VaultRefused as exc:
            return Response(
                {"error": exc.code, "error_description": str(exc)}, status=status.HTTP_403_FORBIDDEN
            )
        except services.NotConnected as exc:
            return self._not_connected(request, exc)
        except services.ScopesNotNarrowed as exc:
            body = {
                "error": "insufficient_scope",
                "error_description": str(exc),
                "scope": " ".join(exc.scopes),
            }
            if exc.provider_scopes is not None:
                body["provider_scope"] = " ".join(exc.provider_scopes)
            return Response(body, status=status.HTTP_403_FORBIDDEN)
        except services.VaultUnavailable as exc:
            return Response(
                {"error": "temporarily_unavailable", "error_description": str(exc)},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        body = self.OutputSerializer(vault_token).data
        return Response(body, headers=NO_STORE)

    @staticmethod
    def _not_connected(request: Request, exc: services.NotConnected) -> Response:
        requirement = exc.requirement
        name = requirement.provider.name
        description = {
            "not_connected": f"The member has not connected {name}.",
            "expired": f"The member's {name} connection expired; they must connect again.",
            "revoked": f"The member disconnected {name}.",
            "missing_scopes": f"The member's {name} connection lacks some of these scopes.",
        }[exc.reason]
        body = {"error": "not_connected", "error_description": description, "reason": exc.reason}
        OnMissing = ApplicationUpstreamRequirement.OnMissing
        if requirement.on_missing == OnMissing.ERROR:
            body["error"] = "access_denied"
            return Response(body, status=status.HTTP_403_FORBIDDEN)
        if requirement.on_missing == OnMissing.PROMPT_CONNECT:
            path = reverse("upstream:connect", args=[requirement.provider_id])
            query = "?" + urlencode({"scope": " ".join(exc.scopes)}) if exc.scopes else ""
            body["connect_url"] = request.build_absolute_uri(path + query)
        return Response(body, status=status.HTTP_409_CONFLICT)
