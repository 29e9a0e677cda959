"""The app's pages: `/callback` and `/` are the URIs registered for demo-web in Latch (fixtures/demo.json)."""

from django.urls import path

from examples.webapp import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login", views.login, name="login"),
    path("callback", views.callback, name="callback"),
    path("activities/<int:activity_id>/enrol", views.enrol, name="enrol"),
    path("logout", views.logout, name="logout"),
]
