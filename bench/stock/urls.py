"""DOT's endpoints where its tutorial mounts them (/o/), the resource, and bare."""

from django.urls import include, path

from bench.stock.views import MeApi, bare

urlpatterns = [
    path("bench/bare", bare, name="bench-bare"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("api/me", MeApi.as_view(), name="me"),
]
