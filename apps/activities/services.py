"""Enrolling in and leaving activities.

Every function here locks the activity row first (SELECT ... FOR UPDATE): the activity guards the
number of places, so two members racing for the last place are served one after the other.
"""

import logging

from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound

from apps.activities.models import Activity, Participant
from apps.api.exceptions import Conflict
from apps.members.models import Member

logger = logging.getLogger(__name__)


def _lock(activity: Activity) -> Activity:
    locked = Activity.objects.select_for_update().filter(pk=activity.pk).first()
    if locked is None:
        raise NotFound("No such activity.")
    return locked


def _enrolled_count(activity: Activity) -> int:
    return activity.participants.filter(status=Participant.Status.ENROLLED).count()


def _waiting_count(activity: Activity) -> int:
    return activity.participants.filter(status=Participant.Status.WAITING).count()


def _status_for_newcomer(activity: Activity) -> Participant.Status:
    """Enrolled while there is a place, else waiting; Conflict when the waiting list is full or off."""
    if activity.participant_limit is None or _enrolled_count(activity) < activity.participant_limit:
        return Participant.Status.ENROLLED
    limit = activity.waiting_list_limit
    if limit is not None and _waiting_count(activity) >= limit:
        raise Conflict(
            "The activity is full and has no waiting list."
            if limit == 0
            else "The activity and its waiting list are full.",
            code="activity_full",
        )
    return Participant.Status.WAITING


def _fill_places(activity: Activity) -> list[Participant]:
    """Promote waiting participants, first come first served, while places are free. Needs the lock."""
    promoted: list[Participant] = []
    waiting = activity.participants.filter(status=Participant.Status.WAITING).order_by("enrolled_at", "pk")
    free = (
        None if activity.participant_limit is None else activity.participant_limit - _enrolled_count(activity)
    )
    for participant in waiting if free is None else waiting[: max(free, 0)]:
        participant.status = Participant.Status.ENROLLED
        participant.save(update_fields=["status"])
        promoted.append(participant)
        logger.info("activity.promoted", extra={"activity": activity.pk, "member": participant.member_id})
    return promoted


@transaction.atomic
def enrol(member: Member, activity: Activity) -> Participant:
    """Give `member` a place in `activity`, or a place on its waiting list when it is full.

    404 for an unpublished activity; Conflict `registration_closed` outside the registration window
    (not yet open, closed, or the activity has started), `already_enrolled` for a second enrolment,
    `activity_full` when it is full and the waiting list is full or disabled.
    """
    activity = _lock(activity)
    if not activity.published:
        raise NotFound("No such activity.")
    if reason := activity.enrolment_refusal(timezone.now()):
        raise Conflict(reason, code="registration_closed")
    if Participant.objects.filter(member=member, activity=activity).exists():
        raise Conflict("You are already enrolled or on the waiting list.", code="already_enrolled")
    participant = Participant.objects.create(
        member=member, activity=activity, status=_status_for_newcomer(activity)
    )
    logger.info(
        "activity.enrolled",
        extra={"activity": activity.pk, "member": member.pk, "status": participant.status},
    )
    return participant


@transaction.atomic
def leave(member: Member, activity: Activity) -> None:
    """Give up `member`'s place (or waiting-list place); the first on the waiting list moves up.

    404 for an unpublished activity and, with code `not_enrolled`, for a member who is neither
    enrolled nor waiting. Conflict `registration_closed` once registration has closed or the
    activity has started: from then on the organisers count on the participants.
    """
    activity = _lock(activity)
    if not activity.published:
        raise NotFound("No such activity.")
    participant = Participant.objects.filter(member=member, activity=activity).first()
    if participant is None:
        raise NotFound("You are not enrolled in this activity.", code="not_enrolled")
    if reason := activity.leaving_refusal(timezone.now()):
        raise Conflict(reason, code="registration_closed")
    participant.delete()
    logger.info("activity.left", extra={"activity": activity.pk, "member": member.pk})
    _fill_places(activity)


@transaction.atomic
def participant_remove(participant: Participant) -> None:
    """The organisers take someone off an activity (any time, published or not); the waiting list moves up."""
    activity = _lock(participant.activity)
    Participant.objects.filter(pk=participant.pk).delete()
    logger.info(
        "activity.participant_removed", extra={"activity": activity.pk, "member": participant.member_id}
    )
    _fill_places(activity)


@transaction.atomic
def waiting_list_promote(activity: Activity) -> list[Participant]:
    """Fill the places that are free (after the organisers raised the limit or removed someone)."""
    return _fill_places(_lock(activity))
