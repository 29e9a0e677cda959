from django.urls import include, path

from apps.accounts import views

urlpatterns = [
    path("", views.home, name="account_home"),
    path("", include("allauth.urls")),
]
