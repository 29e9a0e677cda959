"""Latch's URLs plus /bench/bare: the cheapest Django answer through the same middleware."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from config.urls import urlpatterns as latch_urlpatterns


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/bare", bare, name="bench-bare"), *latch_urlpatterns]
