"""The enrolment rules, through the services: places, the waiting list, the registration window."""

import datetime

import pytest
from django.db import IntegrityError
from django.utils import timezone
from rest_framework.exceptions import NotFound

from apps.activities import selectors, services
from apps.activities.models import Activity, Participant
from apps.api.exceptions import Conflict
from tests.activities.factories import ActivityFactory, ParticipantFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

ENROLLED = Participant.Status.ENROLLED
WAITING = Participant.Status.WAITING
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


def statuses(activity: Activity) -> list[tuple[str, str]]:
    """(first name, status) of everyone in the activity, in the order they enrolled."""
    return [
        (p.member.first_name, p.status)
        for p in activity.participants.select_related("member").order_by("enrolled_at", "pk")
    ]


def named(*first_names: str) -> list:
    return [MemberFactory(first_name=name) for name in first_names]


def enrol_all(activity: Activity, members: list) -> None:
    for member in members:
        services.enrol(member, activity)


def assert_conflict(code: str, call, *args) -> Conflict:
    with pytest.raises(Conflict) as raised:
        call(*args)
    assert raised.value.get_codes() == code
    return raised.value


# --- Places and the waiting list ----------------------------------------------------------------


def test_members_get_places_until_the_limit_then_join_the_waiting_list():
    activity = ActivityFactory(participant_limit=2)

    enrol_all(activity, named("Ada", "Grace", "Alan", "Edsger"))

    assert statuses(activity) == [
        ("Ada", ENROLLED),
        ("Grace", ENROLLED),
        ("Alan", WAITING),
        ("Edsger", WAITING),
    ]


def test_enrol_returns_the_stored_participant():
    activity = ActivityFactory(participant_limit=1)
    ada, grace = named("Ada", "Grace")

    first = services.enrol(ada, activity)
    second = services.enrol(grace, activity)

    assert (first.pk, first.status, first.paid) == (Participant.objects.get(member=ada).pk, ENROLLED, False)
    assert (second.status, selectors.waiting_list_position(second)) == (WAITING, 1)


def test_an_unlimited_activity_never_has_a_waiting_list():
    activity = ActivityFactory(participant_limit=None, waiting_list_limit=0)

    enrol_all(activity, MemberFactory.create_batch(30))

    assert activity.participants.filter(status=ENROLLED).count() == 30
    assert not activity.participants.filter(status=WAITING).exists()


def test_an_unlimited_waiting_list_takes_everyone():
    activity = ActivityFactory(participant_limit=1, waiting_list_limit=None)

    enrol_all(activity, MemberFactory.create_batch(12))

    assert activity.participants.filter(status=ENROLLED).count() == 1
    assert activity.participants.filter(status=WAITING).count() == 11


def test_a_full_activity_without_waiting_list_refuses_and_stores_nothing():
    activity = ActivityFactory(participant_limit=1, waiting_list_limit=0)
    services.enrol(MemberFactory(), activity)

    error = assert_conflict("activity_full", services.enrol, MemberFactory(), activity)

    assert str(error.detail) == "The activity is full and has no waiting list."
    assert activity.participants.count() == 1


def test_a_full_waiting_list_refuses_and_stores_nothing():
    activity = ActivityFactory(participant_limit=1, waiting_list_limit=2)
    enrol_all(activity, named("Ada", "Grace", "Alan"))

    error = assert_conflict("activity_full", services.enrol, MemberFactory(), activity)

    assert str(error.detail) == "The activity and its waiting list are full."
    assert statuses(activity) == [("Ada", ENROLLED), ("Grace", WAITING), ("Alan", WAITING)]


def test_waiting_list_order_is_by_enrolment_time_then_by_id():
    activity = ActivityFactory(participant_limit=1)
    ParticipantFactory(activity=activity)
    moment = timezone.now()
    late = ParticipantFactory(activity=activity, status=WAITING, enrolled_at=moment)
    early = ParticipantFactory(activity=activity, status=WAITING, enrolled_at=moment - HOUR)
    tie = ParticipantFactory(activity=activity, status=WAITING, enrolled_at=moment)  # same moment, higher pk

    assert [selectors.waiting_list_position(p) for p in (early, late, tie)] == [1, 2, 3]
    positions = {p.pk: p.position for p in selectors.participants_with_position().filter(activity=activity)}
    assert [positions[p.pk] for p in (early, late, tie)] == [1, 2, 3]


def test_an_enrolled_participant_has_no_waiting_list_position():
    participant = ParticipantFactory(status=ENROLLED)

    assert selectors.waiting_list_position(participant) is None
    assert selectors.participants_with_position().get(pk=participant.pk).position is None


# --- Leaving and promotion ----------------------------------------------------------------------


def test_leaving_promotes_the_first_on_the_waiting_list():
    activity = ActivityFactory(participant_limit=2)
    ada, grace, alan, edsger = named("Ada", "Grace", "Alan", "Edsger")
    enrol_all(activity, [ada, grace, alan, edsger])

    services.leave(grace, activity)

    assert statuses(activity) == [("Ada", ENROLLED), ("Alan", ENROLLED), ("Edsger", WAITING)]
    assert selectors.waiting_list_position(Participant.objects.get(member=edsger)) == 1


def test_promotion_follows_enrolment_time_not_insertion_order():
    activity = ActivityFactory(participant_limit=1)
    ada = MemberFactory(first_name="Ada")
    services.enrol(ada, activity)
    moment = timezone.now()
    ParticipantFactory(activity=activity, status=WAITING, enrolled_at=moment, member__first_name="Late")
    ParticipantFactory(
        activity=activity, status=WAITING, enrolled_at=moment - HOUR, member__first_name="Early"
    )

    services.leave(ada, activity)

    assert sorted(statuses(activity)) == [("Early", ENROLLED), ("Late", WAITING)]


def test_leaving_the_waiting_list_promotes_nobody():
    activity = ActivityFactory(participant_limit=1)
    ada, grace, alan = named("Ada", "Grace", "Alan")
    enrol_all(activity, [ada, grace, alan])

    services.leave(grace, activity)

    assert statuses(activity) == [("Ada", ENROLLED), ("Alan", WAITING)]
    assert selectors.waiting_list_position(Participant.objects.get(member=alan)) == 1


def test_leaving_does_not_promote_beyond_a_limit_the_organisers_lowered():
    activity = ActivityFactory(participant_limit=3)
    ada, grace, alan, edsger = named("Ada", "Grace", "Alan", "Edsger")
    enrol_all(activity, [ada, grace, alan, edsger])
    Activity.objects.filter(pk=activity.pk).update(participant_limit=1)

    services.leave(ada, activity)

    assert statuses(activity) == [("Grace", ENROLLED), ("Alan", ENROLLED), ("Edsger", WAITING)]


def test_leaving_frees_the_place_for_a_new_member():
    activity = ActivityFactory(participant_limit=1, waiting_list_limit=0)
    ada, grace = named("Ada", "Grace")
    services.enrol(ada, activity)

    services.leave(ada, activity)

    assert services.enrol(grace, activity).status == ENROLLED
    assert statuses(activity) == [("Grace", ENROLLED)]


def test_a_member_who_left_can_enrol_again_at_the_back_of_the_queue():
    activity = ActivityFactory(participant_limit=1)
    ada, grace, alan = named("Ada", "Grace", "Alan")
    enrol_all(activity, [ada, grace, alan])

    services.leave(grace, activity)
    again = services.enrol(grace, activity)

    assert (again.status, selectors.waiting_list_position(again)) == (WAITING, 2)


def test_leaving_when_not_enrolled_is_not_found_and_changes_nothing():
    activity = ActivityFactory(participant_limit=1)
    enrol_all(activity, named("Ada", "Grace"))

    with pytest.raises(NotFound) as raised:
        services.leave(MemberFactory(), activity)

    assert raised.value.get_codes() == "not_enrolled"
    assert statuses(activity) == [("Ada", ENROLLED), ("Grace", WAITING)]


def test_waiting_list_promote_fills_places_after_the_limit_is_raised():
    activity = ActivityFactory(participant_limit=1)
    enrol_all(activity, named("Ada", "Grace", "Alan", "Edsger"))
    Activity.objects.filter(pk=activity.pk).update(participant_limit=3)

    promoted = services.waiting_list_promote(activity)

    assert [p.member.first_name for p in promoted] == ["Grace", "Alan"]
    assert statuses(activity) == [
        ("Ada", ENROLLED),
        ("Grace", ENROLLED),
        ("Alan", ENROLLED),
        ("Edsger", WAITING),
    ]


def test_waiting_list_promote_takes_everyone_when_the_limit_is_removed():
    activity = ActivityFactory(participant_limit=1)
    enrol_all(activity, named("Ada", "Grace", "Alan"))
    Activity.objects.filter(pk=activity.pk).update(participant_limit=None)

    services.waiting_list_promote(activity)

    assert statuses(activity) == [("Ada", ENROLLED), ("Grace", ENROLLED), ("Alan", ENROLLED)]


def test_organisers_can_remove_a_participant_after_registration_closed_and_the_queue_moves_up():
    activity = ActivityFactory(participant_limit=1)
    ada, grace = named("Ada", "Grace")
    enrol_all(activity, [ada, grace])
    Activity.objects.filter(pk=activity.pk).update(registration_closes_at=timezone.now() - HOUR)

    services.participant_remove(Participant.objects.get(member=ada))

    assert statuses(activity) == [("Grace", ENROLLED)]


# --- The registration window --------------------------------------------------------------------


def test_enrolling_before_registration_opens_is_refused():
    opens = timezone.now() + DAY
    activity = ActivityFactory(registration_opens_at=opens)

    error = assert_conflict("registration_closed", services.enrol, MemberFactory(), activity)

    assert str(error.detail) == f"Registration opens at {opens.isoformat()}."
    assert not activity.participants.exists()


def test_enrolling_after_registration_closed_is_refused():
    activity = ActivityFactory(registration_closes_at=timezone.now() - HOUR)

    error = assert_conflict("registration_closed", services.enrol, MemberFactory(), activity)

    assert str(error.detail) == "Registration has closed."
    assert not activity.participants.exists()


def test_enrolling_in_an_activity_that_has_started_is_refused_even_without_a_closing_time():
    start = timezone.now() - HOUR
    activity = ActivityFactory(
        starts_at=start, registration_opens_at=None, registration_closes_at=None, ends_at=start + 3 * HOUR
    )

    error = assert_conflict("registration_closed", services.enrol, MemberFactory(), activity)

    assert str(error.detail) == "The activity has already started."
    assert not activity.participants.exists()


def test_registration_without_opening_or_closing_time_is_open_until_the_start():
    activity = ActivityFactory(registration_opens_at=None, registration_closes_at=None)

    assert services.enrol(MemberFactory(), activity).status == ENROLLED


def test_registration_window_boundaries(monkeypatch):
    """Open from the opening moment itself; closed from the closing moment itself."""
    opens = timezone.now() + DAY
    closes = opens + DAY
    activity = ActivityFactory(registration_opens_at=opens, registration_closes_at=closes)

    assert activity.enrolment_refusal(opens - datetime.timedelta(microseconds=1)) is not None
    assert activity.enrolment_refusal(opens) is None
    assert activity.enrolment_refusal(closes - datetime.timedelta(microseconds=1)) is None
    assert activity.enrolment_refusal(closes) == "Registration has closed."

    monkeypatch.setattr(timezone, "now", lambda: opens)
    assert services.enrol(MemberFactory(), activity).status == ENROLLED
    monkeypatch.setattr(timezone, "now", lambda: closes)
    assert_conflict("registration_closed", services.enrol, MemberFactory(), activity)


def test_leaving_after_registration_closed_is_refused_and_keeps_the_place():
    activity = ActivityFactory(participant_limit=1)
    ada, grace = named("Ada", "Grace")
    enrol_all(activity, [ada, grace])
    Activity.objects.filter(pk=activity.pk).update(registration_closes_at=timezone.now() - HOUR)

    error = assert_conflict("registration_closed", services.leave, ada, activity)
    assert_conflict("registration_closed", services.leave, grace, activity)

    assert str(error.detail) == "Registration has closed."
    assert statuses(activity) == [("Ada", ENROLLED), ("Grace", WAITING)]


def test_leaving_an_activity_that_has_started_is_refused():
    activity = ActivityFactory(registration_closes_at=None)
    ada = MemberFactory()
    services.enrol(ada, activity)
    start = timezone.now() - HOUR
    Activity.objects.filter(pk=activity.pk).update(starts_at=start, ends_at=start + 3 * HOUR)

    error = assert_conflict("registration_closed", services.leave, ada, activity)

    assert str(error.detail) == "The activity has already started."
    assert activity.participants.count() == 1


def test_leaving_before_registration_opens_is_allowed_for_someone_the_organisers_enrolled():
    activity = ActivityFactory(registration_opens_at=timezone.now() + DAY)
    participant = ParticipantFactory(activity=activity)

    services.leave(participant.member, activity)

    assert not activity.participants.exists()


# --- Double enrolment and unpublished activities ------------------------------------------------


def test_enrolling_twice_is_refused_and_keeps_one_place():
    activity = ActivityFactory()
    ada = MemberFactory()
    services.enrol(ada, activity)

    error = assert_conflict("already_enrolled", services.enrol, ada, activity)

    assert str(error.detail) == "You are already enrolled or on the waiting list."
    assert list(activity.participants.values_list("member", "status")) == [(ada.pk, ENROLLED)]


def test_enrolling_while_on_the_waiting_list_is_refused_and_keeps_the_position():
    activity = ActivityFactory(participant_limit=1)
    ada, grace, alan = named("Ada", "Grace", "Alan")
    enrol_all(activity, [ada, grace, alan])

    assert_conflict("already_enrolled", services.enrol, grace, activity)

    assert statuses(activity) == [("Ada", ENROLLED), ("Grace", WAITING), ("Alan", WAITING)]


def test_the_database_refuses_a_second_row_for_the_same_member():
    participant = ParticipantFactory()

    with pytest.raises(IntegrityError):
        ParticipantFactory(member=participant.member, activity=participant.activity, status=WAITING)


def test_an_unpublished_activity_cannot_be_enrolled_in():
    activity = ActivityFactory(published=False)

    with pytest.raises(NotFound):
        services.enrol(MemberFactory(), activity)

    assert not activity.participants.exists()


def test_an_unpublished_activity_cannot_be_left_through_the_service():
    activity = ActivityFactory(published=False)
    participant = ParticipantFactory(activity=activity)

    with pytest.raises(NotFound):
        services.leave(participant.member, activity)

    assert activity.participants.count() == 1


def test_a_deleted_activity_is_not_found():
    activity = ActivityFactory()
    Activity.objects.filter(pk=activity.pk).delete()

    with pytest.raises(NotFound):
        services.enrol(MemberFactory(), activity)
