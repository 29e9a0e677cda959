from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from /api/docs?script= instead of inline,
    # so the page runs under the site-wide script-src 'self' (see also
    # templates/drf_spectacular/swagger_ui.html).
    path("api/docs", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("apps.members.urls")),
    path("api/v1/", include("apps.activities.urls")),
    path("api/v1/", include("apps.groups.urls")),
    path("api/v1/", include("apps.checkout.urls")),
    path("api/v1/", include("apps.upstream.api_urls")),
]
