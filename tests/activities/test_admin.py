import datetime

import pytest
from django.utils import timezone

from apps.activities.models import Activity, Participant
from tests.activities.factories import ActivityFactory, ParticipantFactory

pytestmark = pytest.mark.django_db

ENROLLED = Participant.Status.ENROLLED
WAITING = Participant.Status.WAITING
HOUR = datetime.timedelta(hours=1)


def split(moment: datetime.datetime | None) -> tuple[str, str]:
    if moment is None:
        return "", ""
    local = timezone.localtime(moment)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


def change_form(activity: Activity, participants: list[Participant], **changes) -> dict:
    """The POST of the activity's change page, with its participants inline."""
    values = {
        field: getattr(activity, field)
        for field in (
            "name",
            "description",
            "location",
            "starts_at",
            "ends_at",
            "price_cents",
            "participant_limit",
            "waiting_list_limit",
            "registration_opens_at",
            "registration_closes_at",
            "published",
        )
    }
    values.update(changes)
    data: dict = {}
    for field, value in values.items():
        if isinstance(value, datetime.datetime) or field.endswith("_at"):
            data[f"{field}_0"], data[f"{field}_1"] = split(value)
        elif isinstance(value, bool):
            if value:
                data[field] = "on"
        else:
            data[field] = "" if value is None else value
    data.update(
        {
            "participants-TOTAL_FORMS": str(len(participants)),
            "participants-INITIAL_FORMS": str(len(participants)),
            "participants-MIN_NUM_FORMS": "0",
            "participants-MAX_NUM_FORMS": "1000",
        }
    )
    for index, participant in enumerate(participants):
        data.update(
            {
                f"participants-{index}-id": participant.pk,
                f"participants-{index}-activity": activity.pk,
                f"participants-{index}-member": participant.member_id,
                f"participants-{index}-status": participant.status,
                f"participants-{index}-notes": participant.notes,
            }
        )
        if participant.paid:
            data[f"participants-{index}-paid"] = "on"
    return data


def test_activity_pages_render_with_filters_search_and_date_hierarchy(admin_browser):
    activity = ActivityFactory(name="Board game night")
    ParticipantFactory(activity=activity, notes="Allergic to peanuts")

    changelist = admin_browser.get("/admin/activities/activity/", {"q": "board", "published__exact": "1"})
    change = admin_browser.get(f"/admin/activities/activity/{activity.pk}/change/")

    html = changelist.content.decode()
    assert changelist.status_code == 200
    assert "Board game night" in html
    assert "By published" in html
    assert "By starts at" in html
    assert f"starts_at__year={timezone.localtime(activity.starts_at).year}" in html  # the date hierarchy
    assert change.status_code == 200
    assert "Allergic to peanuts" in change.content.decode()


def test_participant_pages_render(admin_browser):
    participant = ParticipantFactory()

    assert (
        admin_browser.get("/admin/activities/participant/", {"q": participant.member.last_name}).status_code
        == 200
    )
    assert admin_browser.get(f"/admin/activities/participant/{participant.pk}/change/").status_code == 200


def test_deleting_an_enrolled_participant_inline_promotes_the_waiting_list(admin_browser):
    activity = ActivityFactory(participant_limit=1)
    enrolled = ParticipantFactory(activity=activity)
    waiting = ParticipantFactory(activity=activity, status=WAITING)
    data = change_form(activity, [enrolled, waiting])
    data["participants-0-DELETE"] = "on"

    response = admin_browser.post(f"/admin/activities/activity/{activity.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()
    assert list(activity.participants.values_list("pk", "status")) == [(waiting.pk, ENROLLED)]


def test_raising_the_limit_in_the_admin_promotes_the_waiting_list(admin_browser):
    activity = ActivityFactory(participant_limit=1)
    participants = [
        ParticipantFactory(activity=activity),
        ParticipantFactory(activity=activity, status=WAITING),
        ParticipantFactory(activity=activity, status=WAITING),
    ]

    response = admin_browser.post(
        f"/admin/activities/activity/{activity.pk}/change/",
        change_form(activity, participants, participant_limit=2),
    )

    assert response.status_code == 302, response.content.decode()
    assert [p.status for p in activity.participants.order_by("enrolled_at", "pk")] == [
        ENROLLED,
        ENROLLED,
        WAITING,
    ]


def test_editing_notes_and_paid_inline(admin_browser):
    activity = ActivityFactory()
    participant = ParticipantFactory(activity=activity)
    data = change_form(activity, [participant])
    data["participants-0-notes"] = "Vegetarian"
    data["participants-0-paid"] = "on"

    response = admin_browser.post(f"/admin/activities/activity/{activity.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()
    participant.refresh_from_db()
    assert (participant.notes, participant.paid) == ("Vegetarian", True)


def test_the_admin_refuses_an_activity_that_ends_before_it_starts(admin_browser):
    activity = ActivityFactory(name="Trip")

    response = admin_browser.post(
        f"/admin/activities/activity/{activity.pk}/change/",
        change_form(activity, [], name="Renamed", ends_at=activity.starts_at - HOUR),
    )

    assert response.status_code == 200
    assert "An activity ends after it starts." in response.content.decode()
    assert Activity.objects.get(pk=activity.pk).name == "Trip"


def test_remove_action_deletes_and_promotes(admin_browser):
    activity = ActivityFactory(participant_limit=2)
    first, second = ParticipantFactory.create_batch(2, activity=activity)
    waiting = [ParticipantFactory(activity=activity, status=WAITING) for _ in range(3)]

    response = admin_browser.post(
        "/admin/activities/participant/",
        {"action": "remove_and_promote", "_selected_action": [first.pk, second.pk]},
    )

    assert response.status_code == 302
    assert list(activity.participants.order_by("enrolled_at", "pk").values_list("pk", "status")) == [
        (waiting[0].pk, ENROLLED),
        (waiting[1].pk, ENROLLED),
        (waiting[2].pk, WAITING),
    ]


def test_the_delete_page_promotes_too(admin_browser):
    activity = ActivityFactory(participant_limit=1)
    enrolled = ParticipantFactory(activity=activity)
    waiting = ParticipantFactory(activity=activity, status=WAITING)

    response = admin_browser.post(f"/admin/activities/participant/{enrolled.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert list(activity.participants.values_list("pk", "status")) == [(waiting.pk, ENROLLED)]
