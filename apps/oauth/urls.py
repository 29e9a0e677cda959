"""OAuth / OIDC URLs, named as DOT expects (its views and discovery reverse `oauth2_provider:*`).

Endpoints have no trailing slash: OAuth clients are configured with exact URLs.
"""

from django.urls import path
from oauth2_provider import views as dot_views

from apps.oauth import device_views, views
from apps.oauth.logout import LogoutView
from apps.oauth.par_view import PushedAuthorizationRequestView
from apps.oauth.resource_metadata import API_PATH, ProtectedResourceMetadataView
from apps.registration.views import ClientConfigurationView, RegistrationView

app_name = "oauth2_provider"

urlpatterns = [
    path(
        ".well-known/openid-configuration",
        views.ServerMetadataView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(
        ".well-known/oauth-authorization-server",
        views.ServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        ProtectedResourceMetadataView.as_view(),
        name="protected-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource" + API_PATH,
        ProtectedResourceMetadataView.as_view(resource_path=API_PATH),
        name="protected-resource-metadata-api",
    ),
    path("oauth/authorize", views.AuthorizeView.as_view(), name="authorize"),
    path("oauth/par", PushedAuthorizationRequestView.as_view(), name="pushed-authorization-request"),
    path("oauth/token", views.TokenView.as_view(), name="token"),
    path("oauth/revoke", views.RevokeTokenView.as_view(), name="revoke-token"),
    path("oauth/introspect", views.IntrospectView.as_view(), name="introspect"),
    path("oauth/userinfo", views.UserInfoView.as_view(), name="user-info"),
    path("oauth/jwks", dot_views.JwksInfoView.as_view(), name="jwks-info"),
    path("oauth/logout", LogoutView.as_view(), name="rp-initiated-logout"),
    path(
        "oauth/device_authorization",
        device_views.DeviceAuthorizationView.as_view(),
        name="device-authorization",
    ),
    path("oauth/device", device_views.DeviceView.as_view(), name="device"),
    # RFC 7591 / RFC 7592 (apps/registration); off unless LATCH_CLIENT_REGISTRATION.
    path("oauth/register", RegistrationView.as_view(), name="client-registration"),
    path("oauth/register/<str:client_id>", ClientConfigurationView.as_view(), name="client-configuration"),
]
