import pytest

from apps.activities.demo import load_demo
from apps.activities.models import Activity, Participant
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple]:
    return sorted(Participant.objects.values_list("activity__name", "member__first_name", "status", "paid"))


def test_demo_is_idempotent_and_shows_each_kind_of_activity(api_as_app):
    members = [MemberFactory(first_name=name) for name in ("Ada", "Grace", "Alan", "Edsger", "Barbara")]

    load_demo(members)
    first = snapshot()
    load_demo(members)

    assert snapshot() == first
    assert Activity.objects.count() == 6
    assert Activity.objects.filter(published=False).count() == 1
    bouldering = Activity.objects.get(name="Introduction to bouldering")
    assert list(
        bouldering.participants.order_by("enrolled_at", "pk").values_list("member__first_name", "status")
    ) == [
        ("Ada", "enrolled"),
        ("Grace", "enrolled"),
        ("Alan", "waiting"),
        ("Edsger", "waiting"),
    ]
    listed = api_as_app("activity-read").get("/activities").json()["results"]
    assert [a["name"] for a in listed] == [
        "Board game night",
        "Pub quiz",
        "Introduction to bouldering",
        "Annual general meeting",
    ]
    assert [(a["places_left"], a["waiting_list_length"], a["registration_open"]) for a in listed] == [
        (None, 0, True),
        (40, 0, True),  # nobody has joined: the example app's first enrolment
        (0, 2, True),
        (120, 0, False),
    ]


def test_demo_works_without_members():
    load_demo([])
    load_demo([])

    assert Activity.objects.count() == 6
    assert not Participant.objects.exists()
