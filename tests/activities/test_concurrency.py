"""Races on PostgreSQL: many members taking the last places at the same moment.

`enrol` and `leave` lock the activity row before they count places. A short sleep between counting
and writing makes every racer arrive while another holds the lock; without the lock, they would
all count the same free places and the activity would end up over its limit.
"""

import time

import pytest

from apps.activities import services
from apps.activities.models import Participant
from tests.activities.factories import ActivityFactory, ParticipantFactory
from tests.concurrency import race
from tests.members.factories import member_with_login

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]

ENROLLED = Participant.Status.ENROLLED
WAITING = Participant.Status.WAITING


@pytest.fixture
def slow_decisions(monkeypatch):
    """Hold the lock a little longer between counting the places and taking one."""
    original = services._status_for_newcomer

    def slow(activity):
        status = original(activity)
        time.sleep(0.05)
        return status

    monkeypatch.setattr(services, "_status_for_newcomer", slow)


def test_twenty_members_racing_for_five_places_get_five_places_and_fifteen_waiting(
    api_as_member, slow_decisions
):
    activity = ActivityFactory(participant_limit=5, waiting_list_limit=None)
    members = [member_with_login() for _ in range(20)]
    clients = [api_as_member(member, "participant-write") for member in members]
    path = f"/activities/{activity.pk}/enrolment"

    responses = race([lambda client=client: client.post(path) for client in clients])

    assert [response.status_code for response in responses] == [201] * 20
    bodies = [response.json() for response in responses]
    assert sorted(body["position"] for body in bodies if body["status"] == "waiting") == list(range(1, 16))
    assert [body for body in bodies if body["status"] == "enrolled"] == [
        {"status": "enrolled", "position": None}
    ] * 5
    assert activity.participants.filter(status=ENROLLED).count() == 5
    assert activity.participants.filter(status=WAITING).count() == 15
    assert sorted(activity.participants.values_list("member_id", flat=True)) == sorted(m.pk for m in members)


def test_a_full_waiting_list_holds_under_a_race(slow_decisions):
    activity = ActivityFactory(participant_limit=2, waiting_list_limit=3)
    members = [member_with_login() for _ in range(10)]

    results = race([lambda member=member: services.enrol(member, activity) for member in members])

    refused = [r for r in results if not isinstance(r, Participant)]
    assert len(refused) == 5
    assert {r.get_codes() for r in refused} == {"activity_full"}
    assert activity.participants.filter(status=ENROLLED).count() == 2
    assert activity.participants.filter(status=WAITING).count() == 3


def test_one_member_enrolling_five_times_at_once_is_enrolled_once(slow_decisions):
    activity = ActivityFactory(participant_limit=5)
    member = member_with_login()

    results = race([lambda: services.enrol(member, activity) for _ in range(5)])

    assert sum(isinstance(r, Participant) for r in results) == 1
    assert (
        sorted(r.get_codes() for r in results if not isinstance(r, Participant)) == ["already_enrolled"] * 4
    )
    assert activity.participants.filter(member=member).count() == 1


def test_simultaneous_leavers_promote_the_waiting_list_in_order():
    activity = ActivityFactory(participant_limit=5)
    enrolled = [ParticipantFactory(activity=activity) for _ in range(5)]
    waiting = [ParticipantFactory(activity=activity, status=WAITING) for _ in range(4)]

    results = race([lambda p=p: services.leave(p.member, activity) for p in enrolled[:3]])

    assert results == [None, None, None]
    assert sorted(activity.participants.filter(status=ENROLLED).values_list("pk", flat=True)) == sorted(
        [enrolled[3].pk, enrolled[4].pk, waiting[0].pk, waiting[1].pk, waiting[2].pk]
    )
    assert list(activity.participants.filter(status=WAITING).values_list("pk", flat=True)) == [waiting[3].pk]


def test_leaving_and_enrolling_at_once_never_exceeds_the_limit(slow_decisions):
    activity = ActivityFactory(participant_limit=3, waiting_list_limit=0)
    enrolled = [ParticipantFactory(activity=activity) for _ in range(3)]
    newcomers = [member_with_login() for _ in range(6)]

    calls = [lambda p=p: services.leave(p.member, activity) for p in enrolled[:2]]
    calls += [lambda m=m: services.enrol(m, activity) for m in newcomers]
    results = race(calls)

    assert results[:2] == [None, None]
    taken = [r for r in results[2:] if isinstance(r, Participant)]
    refused = [r.get_codes() for r in results[2:] if not isinstance(r, Participant)]
    assert len(taken) <= 2
    assert refused == ["activity_full"] * (6 - len(taken))
    assert activity.participants.filter(status=ENROLLED).count() == 1 + len(taken)
    assert activity.participants.count() <= 3
