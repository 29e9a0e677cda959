from django.urls import path

from apps.members import views

urlpatterns = [
    path("members/me", views.OwnMemberView.as_view(), name="member-me"),
    path("members", views.MemberDirectoryView.as_view(), name="member-list"),
    path("members/<uuid:id>", views.MemberView.as_view(), name="member-detail"),
]
