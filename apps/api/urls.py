from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("apps.members.urls")),
    path("api/v1/", include("apps.activities.urls")),
    path("api/v1/", include("apps.groups.urls")),
    path("api/v1/", include("apps.checkout.urls")),
]
