from django.urls import path

from apps.groups import views

app_name = "groups"
urlpatterns = [
    path("groups", views.GroupListView.as_view(), name="group-list"),
    path("groups/<int:id>", views.GroupDetailView.as_view(), name="group-detail"),
    path("members/me/groups", views.OwnGroupsView.as_view(), name="member-me-groups"),
]
