from django.urls import path

from apps.upstream.api import ConnectionTokenApi

app_name = "connections"
urlpatterns = [
    path("connections/<slug:provider>/token", ConnectionTokenApi.as_view(), name="token"),
]
