"""Demo activities for `make run`: a few upcoming, one full with a waiting list, one past, one draft,
and one open that no demo member has joined yet, for a first enrolment from the example app.

Idempotent: activities are found by name and their dates are moved relative to today on each run,
so the demo always has upcoming activities; participants are only added, never duplicated.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from apps.activities.models import Activity, Participant
from apps.members.models import Member


def _at(days: int, hour: int, minute: int = 0) -> datetime.datetime:
    day = timezone.localdate() + datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def _activities() -> list[dict]:
    return [
        {
            "name": "Board game night",
            "description": "Bring your favourite game or learn a new one. Tea and snacks provided.",
            "location": "Common room, Drift 21",
            "starts_at": _at(5, 19, 30),
            "ends_at": _at(5, 23, 0),
            "price_cents": 0,
            "participant_limit": None,
            "waiting_list_limit": None,
            "registration_opens_at": None,
            "registration_closes_at": None,
            "published": True,
        },
        {
            "name": "Introduction to bouldering",
            "description": "Two hours with an instructor at the climbing hall; shoes are included.",
            "location": "Klimhal Utrecht",
            "starts_at": _at(12, 14, 0),
            "ends_at": _at(12, 17, 0),
            "price_cents": 1250,
            "participant_limit": 2,
            "waiting_list_limit": 5,
            "registration_opens_at": _at(-7, 12, 0),
            "registration_closes_at": _at(10, 23, 59),
            "published": True,
        },
        {
            "name": "Pub quiz",
            "description": "Teams of four, six rounds; the winners choose next month's theme.",
            "location": "Café De Vlinder",
            "starts_at": _at(8, 20, 0),
            "ends_at": _at(8, 23, 0),
            "price_cents": 0,
            "participant_limit": 40,
            "waiting_list_limit": 10,
            "registration_opens_at": None,
            "registration_closes_at": _at(8, 12, 0),
            "published": True,
        },
        {
            "name": "Annual general meeting",
            "description": "The board presents the year and the budget; members vote on the new board.",
            "location": "Lecture hall 1, Educatorium",
            "starts_at": _at(30, 19, 0),
            "ends_at": _at(30, 22, 0),
            "price_cents": 0,
            "participant_limit": 120,
            "waiting_list_limit": 0,
            "registration_opens_at": _at(7, 9, 0),
            "registration_closes_at": _at(29, 12, 0),
            "published": True,
        },
        {
            "name": "Weekend trip to Ghent",
            "description": "Two nights in a hostel, a city walk and a visit to the Gravensteen.",
            "location": "Ghent, Belgium",
            "starts_at": _at(60, 8, 0),
            "ends_at": _at(62, 20, 0),
            "price_cents": 8500,
            "participant_limit": 25,
            "waiting_list_limit": 10,
            "registration_opens_at": None,
            "registration_closes_at": _at(45, 23, 59),
            "published": False,
        },
        {
            "name": "Welcome drinks",
            "description": "The start of the year: meet the board and the committees.",
            "location": "Café De Vlinder",
            "starts_at": _at(-14, 20, 0),
            "ends_at": _at(-14, 23, 30),
            "price_cents": 500,
            "participant_limit": None,
            "waiting_list_limit": None,
            "registration_opens_at": None,
            "registration_closes_at": None,
            "published": True,
        },
    ]


def _ensure(activity: Activity, member: Member, status: Participant.Status, paid: bool = False) -> None:
    Participant.objects.get_or_create(
        activity=activity, member=member, defaults={"status": status, "paid": paid}
    )


@transaction.atomic
def load_demo(members: list[Member]) -> None:
    activities = {}
    for spec in _activities():
        name = spec.pop("name")
        activities[name], _ = Activity.objects.update_or_create(name=name, defaults=spec)

    enrolled, waiting = Participant.Status.ENROLLED, Participant.Status.WAITING
    for member in members[:3]:
        _ensure(activities["Board game night"], member, enrolled)
        _ensure(activities["Welcome drinks"], member, enrolled, paid=True)
    # Bouldering is full: two places taken, the rest on the waiting list in order.
    bouldering = activities["Introduction to bouldering"]
    for index, member in enumerate(members[:4]):
        _ensure(bouldering, member, enrolled if index < 2 else waiting, paid=index < 2)
