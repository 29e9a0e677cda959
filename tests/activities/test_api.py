import datetime

import pytest
from django.utils import timezone
from rest_framework.fields import DateTimeField

from apps.activities.models import Activity, Participant
from apps.members.models import Member
from tests.activities.factories import ActivityFactory, ParticipantFactory
from tests.api.contract import assert_scope_guarded
from tests.members.factories import MemberFactory, member_with_login

pytestmark = pytest.mark.django_db

ENROLLED = Participant.Status.ENROLLED
WAITING = Participant.Status.WAITING
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
ACTIVITY_FIELDS = {
    "id",
    "name",
    "description",
    "location",
    "starts_at",
    "ends_at",
    "price_cents",
    "participant_limit",
    "places_left",
    "waiting_list_length",
    "registration_opens_at",
    "registration_closes_at",
    "registration_open",
}
PRIVATE_WORDS = ("notes", "Allergic to peanuts", "email", "birth_date", "phone", "member")


def iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else DateTimeField().to_representation(moment)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(year, month, day, hour, minute))


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [activity["name"] for activity in response.json()["results"]]


@pytest.fixture
def ada():
    return member_with_login(first_name="Ada", last_name="Lovelace", email="ada@example.org")


@pytest.fixture
def activity():
    return ActivityFactory(name="Board game night", participant_limit=3, waiting_list_limit=2)


# --- GET /activities ----------------------------------------------------------------------------


def test_activity_list_shows_upcoming_published_activities_soonest_first(api_as_app):
    now = timezone.now()
    ActivityFactory(name="Next month", starts_at=now + 30 * DAY)
    ActivityFactory(name="Tomorrow", starts_at=now + DAY)
    ActivityFactory(name="Draft", starts_at=now + 2 * DAY, published=False)
    ActivityFactory(
        name="Yesterday", starts_at=now - DAY, registration_opens_at=None, registration_closes_at=None
    )
    ActivityFactory(
        name="Started an hour ago",
        starts_at=now - HOUR,
        registration_opens_at=None,
        registration_closes_at=None,
    )

    response = api_as_app("activity-read").get("/activities")

    assert names(response) == ["Tomorrow", "Next month"]
    assert response.json()["count"] == 2


def test_activity_list_item_has_exactly_the_public_fields(api_as_app, activity):
    ParticipantFactory(activity=activity, notes="Allergic to peanuts")
    ParticipantFactory(activity=activity, status=WAITING)

    response = api_as_app("activity-read").get("/activities")

    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "id": activity.pk,
            "name": "Board game night",
            "description": "An evening with the association.",
            "location": "Common room",
            "starts_at": iso(activity.starts_at),
            "ends_at": iso(activity.ends_at),
            "price_cents": 0,
            "participant_limit": 3,
            "places_left": 2,
            "waiting_list_length": 1,
            "registration_opens_at": iso(activity.registration_opens_at),
            "registration_closes_at": iso(activity.registration_closes_at),
            "registration_open": True,
        }
    ]


def test_an_app_token_sees_no_private_fields(api_as_app, activity):
    ParticipantFactory(activity=activity, notes="Allergic to peanuts", member__first_name="Grace")
    api = api_as_app("activity-read participant-read")

    listed = api.get("/activities")
    detail = api.get(f"/activities/{activity.pk}")
    participants = api.get(f"/activities/{activity.pk}/participants")

    assert set(listed.json()["results"][0]) == ACTIVITY_FIELDS
    assert set(detail.json()) == ACTIVITY_FIELDS
    assert [set(p) for p in participants.json()["results"]] == [{"first_name", "last_name"}]
    for response in (listed, detail, participants):
        assert response.status_code == 200
        for word in PRIVATE_WORDS:
            assert word not in response.content.decode(), (word, response.content)


def test_places_left_is_null_when_unlimited_and_never_negative(api_as_app):
    unlimited = ActivityFactory(participant_limit=None)
    overfull = ActivityFactory(participant_limit=1)  # the organisers added one more by hand
    ParticipantFactory.create_batch(2, activity=overfull)
    api = api_as_app("activity-read")

    assert api.get(f"/activities/{unlimited.pk}").json()["places_left"] is None
    assert api.get(f"/activities/{overfull.pk}").json()["places_left"] == 0


def test_registration_open_is_false_outside_the_window(api_as_app):
    not_yet = ActivityFactory(registration_opens_at=timezone.now() + DAY)
    closed = ActivityFactory(registration_closes_at=timezone.now() - HOUR)
    open_ = ActivityFactory(registration_opens_at=None, registration_closes_at=None)
    api = api_as_app("activity-read")

    assert [api.get(f"/activities/{a.pk}").json()["registration_open"] for a in (not_yet, closed, open_)] == [
        False,
        False,
        True,
    ]


def test_the_date_filters_take_dates_in_local_time_and_replace_the_upcoming_default(api_as_app):
    ActivityFactory(name="Spring lecture", starts_at=local(2025, 4, 30, 23, 30))
    ActivityFactory(name="May day", starts_at=local(2025, 5, 1, 0, 0))
    ActivityFactory(name="Mid May", starts_at=local(2025, 5, 15, 20, 0))
    ActivityFactory(name="June", starts_at=local(2025, 6, 1, 0, 0))
    ActivityFactory(name="Draft in May", starts_at=local(2025, 5, 10), published=False)
    api = api_as_app("activity-read")

    assert names(api.get("/activities", {"starts_after": "2025-05-01", "starts_before": "2025-06-01"})) == [
        "May day",
        "Mid May",
    ]
    assert names(api.get("/activities", {"starts_after": "2025-04-30", "starts_before": "2025-05-01"})) == [
        "Spring lecture"
    ]


def test_starts_after_alone_includes_everything_from_then_on(api_as_app):
    ActivityFactory(name="Last year", starts_at=local(2024, 9, 1, 20))
    ActivityFactory(name="This spring", starts_at=local(2025, 4, 1, 20))
    ActivityFactory(name="Upcoming", starts_at=timezone.now() + DAY)

    response = api_as_app("activity-read").get("/activities", {"starts_after": "2025-01-01"})

    assert names(response) == ["This spring", "Upcoming"]


def test_starts_before_alone_keeps_to_upcoming_activities(api_as_app):
    now = timezone.now()
    ActivityFactory(
        name="Last week", starts_at=now - 7 * DAY, registration_opens_at=None, registration_closes_at=None
    )
    ActivityFactory(name="Tomorrow", starts_at=now + DAY)
    ActivityFactory(name="Next month", starts_at=now + 30 * DAY)

    response = api_as_app("activity-read").get(
        "/activities", {"starts_before": (timezone.localdate() + datetime.timedelta(days=7)).isoformat()}
    )

    assert names(response) == ["Tomorrow"]


def test_the_date_filters_take_datetimes_with_an_offset_or_in_local_time(api_as_app):
    ActivityFactory(name="Early", starts_at=local(2025, 5, 1, 19, 0))  # 17:00 UTC (summer time)
    ActivityFactory(name="Late", starts_at=local(2025, 5, 1, 21, 0))  # 19:00 UTC
    api = api_as_app("activity-read")

    assert names(api.get("/activities", {"starts_after": "2025-05-01T18:00:00Z"})) == ["Late"]
    assert names(api.get("/activities", {"starts_after": "2025-05-01T17:00:00+00:00"})) == ["Early", "Late"]
    assert names(api.get("/activities", {"starts_after": "2025-05-01T20:00"})) == ["Late"]
    assert names(
        api.get(
            "/activities", {"starts_after": "2025-05-01T00:00", "starts_before": "2025-05-01T19:00:01+02:00"}
        )
    ) == ["Early"]


@pytest.mark.parametrize(
    "params",
    [
        {"starts_after": "yesterday"},
        {"starts_after": "2025-13-01"},
        {"starts_before": "2025-02-30"},
        {"starts_before": "2025-05-01T25:00"},
        {"starts_after": "0001-01-01"},  # before year 1 in UTC
        {"starts_before": "9999-12-31T23:59:59-05:00"},  # after year 9999 in UTC
        {"starts_after": "12345"},
    ],
)
def test_an_invalid_date_filter_is_a_400_naming_the_parameter(api_as_app, params):
    ActivityFactory()

    response = api_as_app("activity-read").get("/activities", params)

    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The request is not valid.",
        "fields": {name: ["Enter an ISO 8601 date (2026-05-01) or date-time."] for name in params},
    }


def test_search_matches_name_and_location_only(api_as_app):
    ActivityFactory(name="Pub quiz", location="De Vlinder")
    ActivityFactory(name="Climbing", location="Klimhal Utrecht")
    ActivityFactory(name="Lecture", location="Educatorium", description="About quizzes in Utrecht")
    api = api_as_app("activity-read")

    assert names(api.get("/activities", {"search": "quiz"})) == ["Pub quiz"]
    assert names(api.get("/activities", {"search": "utrecht"})) == ["Climbing"]
    assert names(api.get("/activities", {"search": "nothing like this"})) == []


def test_activity_list_can_be_ordered_by_name_and_is_paginated(api_as_app):
    for name in ("Chess", "Archery", "Baking"):
        ActivityFactory(name=name)
    api = api_as_app("activity-read")

    assert names(api.get("/activities", {"ordering": "name"})) == ["Archery", "Baking", "Chess"]
    page = api.get("/activities", {"ordering": "-name", "page_size": 2}).json()
    assert (page["count"], [a["name"] for a in page["results"]]) == (3, ["Chess", "Baking"])
    assert page["next"]


def test_ordering_by_a_private_field_is_ignored(api_as_app):
    first = ActivityFactory(name="First", starts_at=timezone.now() + DAY)
    second = ActivityFactory(name="Second", starts_at=timezone.now() + 2 * DAY)
    ParticipantFactory(activity=first, notes="zzz")
    ParticipantFactory(activity=second, notes="aaa")
    api = api_as_app("activity-read")

    assert names(api.get("/activities", {"ordering": "participants__notes"})) == ["First", "Second"]
    assert names(api.get("/activities", {"ordering": "-participants__notes"})) == ["First", "Second"]


def test_a_null_character_in_the_search_is_a_400(api_as_app):
    ActivityFactory()

    response = api_as_app("activity-read").get("/activities", {"search": "quiz\x00"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_activity_list_and_detail_are_guarded_by_activity_read(activity):
    assert_scope_guarded("GET", "/activities", "activity-read")
    assert_scope_guarded("GET", f"/activities/{activity.pk}", "activity-read")


def test_a_members_token_reads_activities_too(ada, api_as_member, activity):
    assert names(api_as_member(ada, "activity-read").get("/activities")) == ["Board game night"]


# --- GET /activities/{id} -----------------------------------------------------------------------


def test_activity_detail_shows_a_published_activity_even_after_it_took_place(api_as_app):
    start = timezone.now() - 30 * DAY
    past = ActivityFactory(
        name="Welcome drinks",
        starts_at=start,
        ends_at=start + 3 * HOUR,
        registration_opens_at=None,
        registration_closes_at=None,
        price_cents=500,
    )

    response = api_as_app("activity-read").get(f"/activities/{past.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "id": past.pk,
        "name": "Welcome drinks",
        "description": "An evening with the association.",
        "location": "Common room",
        "starts_at": iso(start),
        "ends_at": iso(start + 3 * HOUR),
        "price_cents": 500,
        "participant_limit": None,
        "places_left": None,
        "waiting_list_length": 0,
        "registration_opens_at": None,
        "registration_closes_at": None,
        "registration_open": False,
    }


def test_an_unpublished_or_unknown_activity_is_404(api_as_app):
    draft = ActivityFactory(published=False)
    api = api_as_app("activity-read")

    assert api.get(f"/activities/{draft.pk}").status_code == 404
    assert api.get(f"/activities/{draft.pk + 1000}").json()["error"] == "not_found"


# --- GET /activities/{id}/participants ----------------------------------------------------------


def test_participants_lists_the_names_of_the_enrolled_only(api_as_app, activity):
    ParticipantFactory(activity=activity, member__first_name="Grace", member__last_name="Hopper")
    ParticipantFactory(activity=activity, member__first_name="Alan", member__last_name="Turing", notes="VIP")
    ParticipantFactory(activity=activity, member__first_name="Ada", member__last_name="Lovelace")
    ParticipantFactory(activity=activity, status=WAITING, member__first_name="Edsger")
    ParticipantFactory(member__first_name="Barbara")  # another activity

    response = api_as_app("participant-read").get(f"/activities/{activity.pk}/participants")

    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert response.json()["results"] == [
        {"first_name": "Grace", "last_name": "Hopper"},
        {"first_name": "Ada", "last_name": "Lovelace"},
        {"first_name": "Alan", "last_name": "Turing"},
    ]


def test_participants_of_an_unpublished_activity_are_404(api_as_app):
    participant = ParticipantFactory(activity=ActivityFactory(published=False))

    response = api_as_app("participant-read").get(f"/activities/{participant.activity_id}/participants")

    assert response.status_code == 404


def test_participants_is_guarded_by_participant_read_for_apps_and_members(ada, activity):
    assert_scope_guarded("GET", f"/activities/{activity.pk}/participants", "participant-read")
    assert_scope_guarded("GET", f"/activities/{activity.pk}/participants", "participant-read", user=ada.user)


# --- GET /members/me/enrolments -----------------------------------------------------------------


def test_my_enrolments_lists_places_and_waiting_list_positions_soonest_first(ada, api_as_member):
    now = timezone.now()
    later = ActivityFactory(name="Trip", starts_at=now + 20 * DAY, participant_limit=1)
    sooner = ActivityFactory(name="Lecture", starts_at=now + 2 * DAY)
    ParticipantFactory(activity=later)
    ParticipantFactory(activity=later, status=WAITING, enrolled_at=now - HOUR)
    ParticipantFactory(activity=later, member=ada, status=WAITING, enrolled_at=now)
    ParticipantFactory(activity=sooner, member=ada, paid=True, notes="Pays cash")
    ParticipantFactory(activity=ActivityFactory(published=False), member=ada)
    ParticipantFactory(activity=sooner)  # someone else's

    response = api_as_member(ada, "participant-read").get("/members/me/enrolments")

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert response.json()["results"] == [
        {
            "activity": {"id": sooner.pk, "name": "Lecture", "starts_at": iso(sooner.starts_at)},
            "status": "enrolled",
            "position": None,
            "paid": True,
        },
        {
            "activity": {"id": later.pk, "name": "Trip", "starts_at": iso(later.starts_at)},
            "status": "waiting",
            "position": 2,
            "paid": False,
        },
    ]


def test_my_enrolments_is_empty_for_a_member_without_any(ada, api_as_member):
    ParticipantFactory()

    response = api_as_member(ada, "participant-read").get("/members/me/enrolments")

    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_my_enrolments_needs_a_members_token(api_as_app):
    response = api_as_app("participant-read").get("/members/me/enrolments")

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_user_authentication"


def test_my_enrolments_for_a_login_without_member_record_is_404(api_as_member):
    login_only = member_with_login()
    Member.objects.filter(pk=login_only.pk).update(user=None)

    assert api_as_member(login_only, "participant-read").get("/members/me/enrolments").status_code == 404


def test_my_enrolments_is_guarded_by_participant_read(ada):
    assert_scope_guarded("GET", "/members/me/enrolments", "participant-read", user=ada.user)


# --- POST /activities/{id}/enrolment ------------------------------------------------------------


def test_enrolling_gives_a_place(ada, api_as_member, activity):
    response = api_as_member(ada, "participant-write").post(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 201, response.content
    assert response.json() == {"status": "enrolled", "position": None}
    assert list(activity.participants.values_list("member", "status", "paid")) == [(ada.pk, ENROLLED, False)]


def test_enrolling_in_a_full_activity_gives_a_waiting_list_position(ada, api_as_member, activity):
    ParticipantFactory.create_batch(3, activity=activity)
    ParticipantFactory(activity=activity, status=WAITING)

    response = api_as_member(ada, "participant-write").post(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 201
    assert response.json() == {"status": "waiting", "position": 2}
    listed = api_as_member(ada, "activity-read").get(f"/activities/{activity.pk}").json()
    assert (listed["places_left"], listed["waiting_list_length"]) == (0, 2)


def test_enrolling_ignores_a_body(ada, api_as_member, activity):
    response = api_as_member(ada, "participant-write").post(
        f"/activities/{activity.pk}/enrolment", {"status": "enrolled", "paid": True}
    )

    assert response.status_code == 201
    assert Participant.objects.get(member=ada).paid is False


@pytest.mark.parametrize(
    ("setup", "code", "description"),
    [
        ("already", "already_enrolled", "You are already enrolled or on the waiting list."),
        ("full", "activity_full", "The activity and its waiting list are full."),
        ("closed", "registration_closed", "Registration has closed."),
        ("started", "registration_closed", "The activity has already started."),
    ],
)
def test_a_refused_enrolment_is_a_409_with_its_code_and_changes_nothing(
    ada, api_as_member, activity, setup, code, description
):
    if setup == "already":
        ParticipantFactory(activity=activity, member=ada, status=WAITING)
    elif setup == "full":
        ParticipantFactory.create_batch(3, activity=activity)
        ParticipantFactory.create_batch(2, activity=activity, status=WAITING)
    elif setup == "closed":
        Activity.objects.filter(pk=activity.pk).update(registration_closes_at=timezone.now() - HOUR)
    else:
        start = timezone.now() - HOUR
        Activity.objects.filter(pk=activity.pk).update(
            starts_at=start, ends_at=start + 3 * HOUR, registration_closes_at=None
        )
    before = list(Participant.objects.values_list("pk", "member", "status").order_by("pk"))

    response = api_as_member(ada, "participant-write").post(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 409, response.content
    assert response.json() == {"error": code, "error_description": description}
    assert list(Participant.objects.values_list("pk", "member", "status").order_by("pk")) == before


def test_enrolling_before_registration_opens_is_a_409(ada, api_as_member):
    opens = timezone.now() + DAY
    activity = ActivityFactory(registration_opens_at=opens)

    response = api_as_member(ada, "participant-write").post(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 409
    assert response.json() == {
        "error": "registration_closed",
        "error_description": f"Registration opens at {opens.isoformat()}.",
    }
    assert not Participant.objects.exists()


def test_enrolling_in_an_unpublished_or_unknown_activity_is_404(ada, api_as_member):
    draft = ActivityFactory(published=False)
    api = api_as_member(ada, "participant-write")

    assert api.post(f"/activities/{draft.pk}/enrolment").status_code == 404
    assert api.post(f"/activities/{draft.pk + 1000}/enrolment").status_code == 404
    assert not Participant.objects.exists()


def test_enrolling_needs_a_members_token(api_as_app, activity):
    response = api_as_app("participant-write").post(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_user_authentication"
    assert not Participant.objects.exists()


def test_enrolling_without_a_member_record_is_404(api_as_member, activity):
    login_only = member_with_login()
    Member.objects.filter(pk=login_only.pk).update(user=None)

    response = api_as_member(login_only, "participant-write").post(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 404
    assert not Participant.objects.exists()


def test_enrolment_is_guarded_by_participant_write(ada, activity):
    assert_scope_guarded("POST", f"/activities/{activity.pk}/enrolment", "participant-write", user=ada.user)
    assert_scope_guarded("DELETE", f"/activities/{activity.pk}/enrolment", "participant-write", user=ada.user)
    assert not Participant.objects.exists()


# --- DELETE /activities/{id}/enrolment ----------------------------------------------------------


def test_leaving_is_204_and_promotes_the_first_waiting(ada, api_as_member, activity):
    ParticipantFactory(activity=activity, member=ada)
    ParticipantFactory.create_batch(2, activity=activity)
    first = ParticipantFactory(activity=activity, status=WAITING, enrolled_at=timezone.now() - HOUR)
    second = ParticipantFactory(activity=activity, status=WAITING, enrolled_at=timezone.now())

    response = api_as_member(ada, "participant-write").delete(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 204
    assert response.content == b""
    assert not Participant.objects.filter(member=ada).exists()
    assert Participant.objects.get(pk=first.pk).status == ENROLLED
    assert Participant.objects.get(pk=second.pk).status == WAITING


def test_leaving_when_not_enrolled_is_404_not_enrolled(ada, api_as_member, activity):
    ParticipantFactory(activity=activity)

    response = api_as_member(ada, "participant-write").delete(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 404
    assert response.json() == {
        "error": "not_enrolled",
        "error_description": "You are not enrolled in this activity.",
    }
    assert activity.participants.count() == 1


def test_leaving_after_registration_closed_is_409_and_keeps_the_place(ada, api_as_member, activity):
    ParticipantFactory(activity=activity, member=ada)
    Activity.objects.filter(pk=activity.pk).update(registration_closes_at=timezone.now() - HOUR)

    response = api_as_member(ada, "participant-write").delete(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 409
    assert response.json() == {
        "error": "registration_closed",
        "error_description": "Registration has closed.",
    }
    assert Participant.objects.filter(member=ada, activity=activity).exists()


def test_leaving_an_unpublished_activity_is_404(ada, api_as_member):
    participant = ParticipantFactory(activity=ActivityFactory(published=False), member=ada)

    response = api_as_member(ada, "participant-write").delete(
        f"/activities/{participant.activity_id}/enrolment"
    )

    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert Participant.objects.filter(pk=participant.pk).exists()


def test_leaving_needs_a_members_token(api_as_app, activity):
    ParticipantFactory(activity=activity)

    response = api_as_app("participant-write").delete(f"/activities/{activity.pk}/enrolment")

    assert response.status_code == 403
    assert activity.participants.count() == 1


def test_enrol_leave_enrol_round_trip(ada, api_as_member, activity):
    api = api_as_member(ada, "participant-write participant-read")
    path = f"/activities/{activity.pk}/enrolment"

    assert api.post(path).status_code == 201
    assert api.delete(path).status_code == 204
    assert api.delete(path).status_code == 404
    assert api.post(path).status_code == 201
    assert [e["status"] for e in api.get("/members/me/enrolments").json()["results"]] == ["enrolled"]


def test_other_members_enrolments_are_untouched_by_leaving(ada, api_as_member, activity):
    grace = MemberFactory()
    ParticipantFactory(activity=activity, member=grace)

    api_as_member(ada, "participant-write").delete(f"/activities/{activity.pk}/enrolment")

    assert Participant.objects.filter(member=grace).count() == 1
