from allauth.account import views as allauth_views
from django.urls import include, path, re_path

from apps.accounts import views

# Only the allauth pages Latch uses: the membership record is the association's, so allauth's
# email management (add an address, make it primary), sign-up, email confirmation and login by code
# are not mounted and answer 404. `allauth.urls` would mount them all.
allauth_urlpatterns = [
    path("login/", allauth_views.login, name="account_login"),
    path("logout/", allauth_views.logout, name="account_logout"),
    path("inactive/", allauth_views.account_inactive, name="account_inactive"),
    path("reauthenticate/", allauth_views.reauthenticate, name="account_reauthenticate"),
    path("password/change/", views.password_change, name="account_change_password"),
    path("password/reset/", allauth_views.password_reset, name="account_reset_password"),
    path("password/reset/done/", allauth_views.password_reset_done, name="account_reset_password_done"),
    re_path(
        r"^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
        allauth_views.password_reset_from_key,
        name="account_reset_password_from_key",
    ),
    path(
        "password/reset/key/done/",
        allauth_views.password_reset_from_key_done,
        name="account_reset_password_from_key_done",
    ),
    path("2fa/", include("allauth.mfa.urls")),
]

urlpatterns = [
    path("", views.home, name="account_home"),
    path("apps/", views.connected_apps, name="account_apps"),
    path("apps/<str:client_id>/disconnect", views.disconnect_app, name="account_app_disconnect"),
    path("sessions/end", views.end_session, name="account_session_end"),
    path("sessions/end-all", views.sign_out_everywhere, name="account_sign_out_everywhere"),
    *allauth_urlpatterns,
]
