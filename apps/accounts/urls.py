from django.urls import include, path

from apps.accounts import views

urlpatterns = [
    path("", views.home, name="account_home"),
    path("apps/", views.connected_apps, name="account_apps"),
    path("apps/<str:client_id>/disconnect", views.disconnect_app, name="account_app_disconnect"),
    path("sessions/end", views.end_session, name="account_session_end"),
    path("sessions/end-all", views.sign_out_everywhere, name="account_sign_out_everywhere"),
    path("", include("allauth.urls")),
]
