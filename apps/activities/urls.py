from django.urls import path

from apps.activities import views

urlpatterns = [
    path("activities", views.ActivityListView.as_view(), name="activity-list"),
    path("activities/<int:id>", views.ActivityView.as_view(), name="activity-detail"),
    path(
        "activities/<int:id>/participants",
        views.ActivityParticipantListView.as_view(),
        name="activity-participant-list",
    ),
    path("activities/<int:id>/enrolment", views.EnrolmentView.as_view(), name="activity-enrolment"),
    path("members/me/enrolments", views.OwnEnrolmentListView.as_view(), name="member-enrolment-list"),
]
