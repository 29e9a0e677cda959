from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.activities import selectors, services
from apps.activities.filters import DATE_OR_DATETIME_SCHEMA, ActivityFilter
from apps.activities.models import Activity, Participant
from apps.activities.serializers import (
    ActivityParticipantSerializer,
    ActivitySerializer,
    EnrolmentResultSerializer,
    EnrolmentSerializer,
)
from apps.api.permissions import TokenKind
from apps.members.selectors import member_for_user

ENROLMENT_CONFLICTS = OpenApiResponse(
    description="`registration_closed`: not open yet, closed, or the activity has started; "
    "`already_enrolled`: the member already has a place or a waiting-list place; "
    "`activity_full`: full, with the waiting list full or disabled."
)


@extend_schema(
    parameters=[
        OpenApiParameter(
            "starts_after",
            DATE_OR_DATETIME_SCHEMA,
            description="Only activities starting at or after this date (its midnight in the association's "
            "time zone) or date-time. Default: now, so only upcoming activities.",
        ),
        OpenApiParameter(
            "starts_before",
            DATE_OR_DATETIME_SCHEMA,
            description="Only activities starting before this date (its midnight: exclusive) or date-time.",
        ),
        OpenApiParameter("search", str, description="Words in the name or location."),
    ]
)
class ActivityListView(generics.ListAPIView):
    """Published activities, soonest first. Upcoming ones only unless `starts_after` says otherwise."""

    required_scopes = "activity-read"
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    search_fields = ("name", "location")
    ordering_fields = ("starts_at", "name")
    ordering = ("starts_at", "id")

    def get_queryset(self) -> QuerySet[Activity]:
        return selectors.activities_published()


class ActivityView(generics.RetrieveAPIView):
    """One published activity (past ones included)."""

    required_scopes = "activity-read"
    serializer_class = ActivitySerializer
    queryset = Activity.objects.none()  # for the schema: get_object below does the lookup

    def get_object(self) -> Activity:
        return selectors.activity_published(self.kwargs["id"])


class ActivityParticipantListView(generics.ListAPIView):
    """The names of the members enrolled in a published activity (not the waiting list)."""

    required_scopes = "participant-read"
    serializer_class = ActivityParticipantSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Participant]:
        activity = selectors.activity_published(self.kwargs["id"])
        return selectors.activity_participants_enrolled(activity)


class OwnEnrolmentListView(generics.ListAPIView):
    """The signed-in member's enrolments and waiting-list places, soonest activity first."""

    required_scopes = "participant-read"
    token_kind = TokenKind.USER
    serializer_class = EnrolmentSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Participant]:
        return selectors.enrolments_of_member(member_for_user(self.request.user))


class EnrolmentView(APIView):
    """The signed-in member's own enrolment in an activity: enrol (POST) or leave (DELETE)."""

    required_scopes = {"POST": "participant-write", "DELETE": "participant-write"}
    token_kind = TokenKind.USER

    @extend_schema(
        request=None,
        responses={
            201: EnrolmentResultSerializer,
            404: OpenApiResponse(description="No such published activity, or no member record."),
            409: ENROLMENT_CONFLICTS,
        },
        summary="Enrol (or join the waiting list when the activity is full)",
    )
    def post(self, request: Request, id: int) -> Response:
        member = member_for_user(request.user)
        participant = services.enrol(member, selectors.activity_published(id))
        result = {"status": participant.status, "position": selectors.waiting_list_position(participant)}
        return Response(EnrolmentResultSerializer(result).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="Left; the first on the waiting list took the place."),
            404: OpenApiResponse(
                description="No such published activity, or `not_enrolled`: the member has no place in it."
            ),
            409: OpenApiResponse(description="`registration_closed`: leaving is no longer possible."),
        },
        summary="Leave the activity or its waiting list",
    )
    def delete(self, request: Request, id: int) -> Response:
        member = member_for_user(request.user)
        services.leave(member, selectors.activity_published(id))
        return Response(status=status.HTTP_204_NO_CONTENT)
