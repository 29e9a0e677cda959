from django.urls import include, path

from apps.accounts import views

urlpatterns = [
    path("", views.home, name="account_home"),
    path("apps/", views.connected_apps, name="account_apps"),
    path("apps/<str:client_id>/disconnect", views.disconnect_app, name="account_app_disconnect"),
    path("", include("allauth.urls")),
]
