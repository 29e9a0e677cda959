from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from rest_framework.exceptions import NotFound

from apps.activities.models import Activity, Participant
from apps.members.models import Member


def activities_published() -> QuerySet[Activity]:
    """Published activities, each with `enrolled_count` and `waiting_count`."""
    return Activity.objects.filter(published=True).annotate(
        enrolled_count=Count("participants", filter=Q(participants__status=Participant.Status.ENROLLED)),
        waiting_count=Count("participants", filter=Q(participants__status=Participant.Status.WAITING)),
    )


def activity_published(activity_id: int) -> Activity:
    """One published activity; 404 for an unknown or unpublished one (they look the same)."""
    activity = activities_published().filter(pk=activity_id).first()
    if activity is None:
        # DRF's NotFound, not Django's Http404: the API's error handler gives it the OAuth error shape.
        raise NotFound("No such activity.")
    return activity


def activity_participants_enrolled(activity: Activity) -> QuerySet[Participant]:
    return (
        Participant.objects.filter(activity=activity, status=Participant.Status.ENROLLED)
        .select_related("member")
        .order_by("member__last_name", "member__first_name", "pk")
    )


def participants_with_position() -> QuerySet[Participant]:
    """Participants with `position`: their 1-based place on the waiting list, None when enrolled."""
    ahead = (
        Participant.objects.filter(activity=OuterRef("activity"), status=Participant.Status.WAITING)
        .filter(
            Q(enrolled_at__lt=OuterRef("enrolled_at"))
            | Q(enrolled_at=OuterRef("enrolled_at"), pk__lt=OuterRef("pk"))
        )
        .order_by()
        .values("activity")
        .annotate(n=Count("pk"))
        .values("n")
    )
    waiting_position = Coalesce(Subquery(ahead, output_field=IntegerField()), Value(0)) + 1
    return Participant.objects.select_related("activity").annotate(
        position=Case(
            When(status=Participant.Status.WAITING, then=waiting_position),
            default=None,
            output_field=IntegerField(),
        )
    )


def enrolments_of_member(member: Member) -> QuerySet[Participant]:
    """The member's places and waiting-list places in published activities, soonest first."""
    return (
        participants_with_position()
        .filter(member=member, activity__published=True)
        .order_by("activity__starts_at", "activity_id")
    )


def waiting_list_position(participant: Participant) -> int | None:
    if participant.status != Participant.Status.WAITING:
        return None
    return (
        Participant.objects.filter(activity_id=participant.activity_id, status=Participant.Status.WAITING)
        .filter(
            Q(enrolled_at__lt=participant.enrolled_at)
            | Q(enrolled_at=participant.enrolled_at, pk__lt=participant.pk)
        )
        .count()
        + 1
    )
