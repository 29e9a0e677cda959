from django.urls import path

from apps.upstream import views

app_name = "upstream"
urlpatterns = [
    path("upstream/<slug:slug>/login", views.sign_in, name="login"),
    path("upstream/<slug:slug>/callback", views.callback, name="callback"),
    path("upstream/<slug:slug>/link/confirm", views.link_confirm, name="link-confirm"),
    path("upstream/<slug:slug>/link", views.link, name="link"),
    path("upstream/<slug:slug>/unlink", views.unlink, name="unlink"),
    path("connections", views.connections, name="connections"),
    path("connections/<slug:slug>/connect", views.connect, name="connect"),
    path("connections/<slug:slug>/disconnect", views.disconnect, name="disconnect"),
]
