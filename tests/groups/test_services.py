import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from apps.api.exceptions import Conflict
from apps.groups import selectors, services
from apps.groups.models import Group, GroupMembership
from tests.concurrency import race
from tests.groups.factories import GroupFactory, GroupMembershipFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

SEPT_1 = datetime.date(2025, 9, 1)


def rows(member, group) -> list[tuple[str, datetime.date, datetime.date | None]]:
    """The member's whole history in the group, oldest first."""
    memberships = GroupMembership.objects.filter(member=member, group=group).order_by("started", "pk")
    return [(m.role, m.started, m.ended) for m in memberships]


@pytest.fixture
def today():
    return timezone.localdate()


# --- add_member --------------------------------------------------------------------------------


def test_add_member_starts_a_current_membership_today_as_member_by_default(today):
    group, member = GroupFactory(), MemberFactory()

    membership = services.add_member(group, member)

    assert (membership.role, membership.started, membership.ended) == ("member", today, None)
    assert membership.is_current
    assert rows(member, group) == [("member", today, None)]


def test_add_member_takes_a_role_and_a_start_date():
    group, member = GroupFactory(), MemberFactory()

    services.add_member(group, member, "  treasurer ", started=SEPT_1)

    assert rows(member, group) == [("treasurer", SEPT_1, None)]


def test_add_member_twice_is_refused_as_already_member_and_changes_nothing():
    membership = GroupMembershipFactory(role="chair", started=SEPT_1)

    with pytest.raises(Conflict) as refused:
        services.add_member(membership.group, membership.member, "member")

    assert refused.value.get_codes() == "already_member"
    assert str(refused.value.detail) == f"{membership.member} is already a member of {membership.group}."
    assert rows(membership.member, membership.group) == [("chair", SEPT_1, None)]


def test_add_member_after_a_membership_ended_starts_a_new_one_beside_the_old(today):
    old = GroupMembershipFactory(started=datetime.date(2023, 1, 1), ended=datetime.date(2024, 1, 1))

    services.add_member(old.group, old.member, "chair")

    assert rows(old.member, old.group) == [
        ("member", datetime.date(2023, 1, 1), datetime.date(2024, 1, 1)),
        ("chair", today, None),
    ]


def test_add_member_to_another_group_is_no_conflict():
    membership = GroupMembershipFactory()
    other = GroupFactory()

    services.add_member(other, membership.member)

    assert [m.group for m in selectors.member_memberships(membership.member)] == sorted(
        [membership.group, other], key=lambda g: g.name
    )


@pytest.mark.parametrize(
    ("role", "error"),
    [
        ("   ", {"role": ["This field cannot be blank."]}),
        ("x" * 51, {"role": ["Ensure this value has at most 50 characters (it has 51)."]}),
    ],
)
def test_add_member_refuses_a_blank_or_overlong_role_and_creates_nothing(role, error):
    group, member = GroupFactory(), MemberFactory()

    with pytest.raises(ValidationError) as refused:
        services.add_member(group, member, role)

    assert refused.value.detail == error
    assert not GroupMembership.objects.exists()


def test_add_member_refuses_a_start_in_the_future(today):
    group, member = GroupFactory(), MemberFactory()

    with pytest.raises(ValidationError) as refused:
        services.add_member(group, member, started=today + datetime.timedelta(days=1))

    assert refused.value.detail == {"started": ["A membership cannot start in the future."]}
    assert not GroupMembership.objects.exists()


# --- the database's own constraints ------------------------------------------------------------


def test_database_refuses_a_second_current_membership_of_one_group():
    membership = GroupMembershipFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMembership.objects.create(member=membership.member, group=membership.group, role="chair")

    assert GroupMembership.objects.count() == 1


def test_database_allows_any_number_of_ended_memberships_of_one_group():
    member, group = MemberFactory(), GroupFactory()
    for year in (2020, 2021, 2022):
        GroupMembershipFactory(
            member=member,
            group=group,
            started=datetime.date(year, 1, 1),
            ended=datetime.date(year, 12, 31),
        )
    GroupMembershipFactory(member=member, group=group, started=datetime.date(2023, 1, 1))

    assert GroupMembership.objects.filter(member=member, group=group).count() == 4


def test_database_refuses_a_membership_that_ends_before_it_started():
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMembershipFactory(started=SEPT_1, ended=SEPT_1 - datetime.timedelta(days=1))

    assert not GroupMembership.objects.exists()


def test_group_names_are_unique_whatever_their_case():
    GroupFactory(name="Board")

    with pytest.raises(IntegrityError), transaction.atomic():
        GroupFactory(name="BOARD")

    assert list(Group.objects.values_list("name", flat=True)) == ["Board"]


# --- change_role -------------------------------------------------------------------------------


def test_change_role_ends_the_old_membership_and_starts_a_new_one(today):
    membership = GroupMembershipFactory(role="member", started=SEPT_1)

    successor = services.change_role(membership, "treasurer")

    assert (successor.role, successor.started, successor.ended) == ("treasurer", today, None)
    assert successor.pk != membership.pk
    assert membership.ended == today  # the caller's instance is brought up to date
    assert rows(membership.member, membership.group) == [
        ("member", SEPT_1, today),
        ("treasurer", today, None),
    ]
    assert list(selectors.group_current_memberships(membership.group)) == [successor]


def test_change_role_keeps_every_earlier_role_in_the_history(today):
    membership = GroupMembershipFactory(role="member", started=SEPT_1)

    services.change_role(services.change_role(membership, "secretary"), "chair")

    assert rows(membership.member, membership.group) == [
        ("member", SEPT_1, today),
        ("secretary", today, today),
        ("chair", today, None),
    ]


def test_change_role_to_the_same_role_changes_nothing():
    membership = GroupMembershipFactory(role="chair", started=SEPT_1)

    unchanged = services.change_role(membership, " chair ")

    assert unchanged.pk == membership.pk
    assert rows(membership.member, membership.group) == [("chair", SEPT_1, None)]


def test_change_role_of_an_ended_membership_is_refused_and_changes_nothing():
    ended = datetime.date(2025, 12, 31)
    membership = GroupMembershipFactory(role="member", started=SEPT_1, ended=ended)

    with pytest.raises(Conflict) as refused:
        services.change_role(membership, "chair")

    assert refused.value.get_codes() == "membership_ended"
    assert str(refused.value.detail) == "This membership ended on 2025-12-31."
    assert rows(membership.member, membership.group) == [("member", SEPT_1, ended)]


def test_change_role_of_a_membership_ended_elsewhere_meanwhile_is_refused(today):
    membership = GroupMembershipFactory(role="member", started=SEPT_1)
    stale = GroupMembership.objects.get(pk=membership.pk)
    services.end_membership(membership)

    with pytest.raises(Conflict) as refused:
        services.change_role(stale, "chair")  # its copy still says current: the row decides

    assert refused.value.get_codes() == "membership_ended"
    assert rows(membership.member, membership.group) == [("member", SEPT_1, today)]


def test_change_role_to_a_blank_role_is_refused_and_the_old_membership_stays_current():
    membership = GroupMembershipFactory(role="chair", started=SEPT_1)

    with pytest.raises(ValidationError) as refused:
        services.change_role(membership, "")

    assert refused.value.detail == {"role": ["This field cannot be blank."]}
    assert rows(membership.member, membership.group) == [("chair", SEPT_1, None)]


# --- end_membership ----------------------------------------------------------------------------


def test_end_membership_ends_it_today_by_default(today):
    membership = GroupMembershipFactory(started=SEPT_1)

    ended = services.end_membership(membership)

    assert ended.ended == today
    assert membership.ended == today
    assert not ended.is_current
    assert rows(membership.member, membership.group) == [("member", SEPT_1, today)]
    assert list(selectors.group_current_memberships(membership.group)) == []
    assert list(selectors.member_memberships(membership.member)) == []
    assert list(selectors.member_memberships(membership.member, include_past=True)) == [ended]


def test_end_membership_on_a_given_date():
    membership = GroupMembershipFactory(started=SEPT_1)

    services.end_membership(membership, datetime.date(2025, 12, 31))

    assert rows(membership.member, membership.group) == [("member", SEPT_1, datetime.date(2025, 12, 31))]


def test_end_membership_on_the_day_it_started_is_allowed():
    membership = GroupMembershipFactory(started=SEPT_1)

    services.end_membership(membership, SEPT_1)

    assert rows(membership.member, membership.group) == [("member", SEPT_1, SEPT_1)]


@pytest.mark.parametrize(
    ("days_after_start", "error"),
    [
        (-1, "A membership cannot end before it started."),
        (None, "A membership cannot end in the future."),
    ],
)
def test_end_membership_refuses_an_impossible_date_and_changes_nothing(days_after_start, error, today):
    membership = GroupMembershipFactory(started=SEPT_1)
    if days_after_start is None:
        ended = today + datetime.timedelta(days=1)
    else:
        ended = SEPT_1 + datetime.timedelta(days=days_after_start)

    with pytest.raises(ValidationError) as refused:
        services.end_membership(membership, ended)

    assert refused.value.detail == {"ended": [error]}
    assert membership.ended is None
    assert rows(membership.member, membership.group) == [("member", SEPT_1, None)]


def test_end_membership_twice_is_refused_and_keeps_the_first_end_date():
    membership = GroupMembershipFactory(started=SEPT_1)
    services.end_membership(membership, datetime.date(2025, 10, 1))

    with pytest.raises(Conflict) as refused:
        services.end_membership(membership, datetime.date(2025, 11, 1))

    assert refused.value.get_codes() == "membership_ended"
    assert rows(membership.member, membership.group) == [("member", SEPT_1, datetime.date(2025, 10, 1))]


# --- selectors ---------------------------------------------------------------------------------


def test_current_memberships_of_a_group_are_ordered_by_name_and_leave_out_ended_ones():
    group = GroupFactory()
    turing = GroupMembershipFactory(group=group, member=MemberFactory(first_name="Alan", last_name="Turing"))
    hopper = GroupMembershipFactory(group=group, member=MemberFactory(first_name="Grace", last_name="Hopper"))
    GroupMembershipFactory(group=group, ended=datetime.date(2025, 1, 1))
    GroupMembershipFactory(member=turing.member)  # another group

    assert list(selectors.group_current_memberships(group)) == [hopper, turing]


def test_group_list_counts_current_members_only():
    group = GroupFactory()
    GroupMembershipFactory.create_batch(2, group=group)
    GroupMembershipFactory(group=group, ended=datetime.date(2025, 1, 1))

    assert [(g.name, g.member_count) for g in selectors.group_list()] == [(group.name, 2)]


# --- races (PostgreSQL) ------------------------------------------------------------------------


def codes(outcomes: list) -> list[str]:
    return sorted(o.get_codes() if isinstance(o, Conflict) else type(o).__name__ for o in outcomes)


@pytest.mark.concurrency
@pytest.mark.usefixtures("postgres_only")
def test_concurrent_add_member_makes_exactly_one_current_membership():
    group, member = GroupFactory(), MemberFactory()

    outcomes = race([lambda: services.add_member(group, member, "member")] * 4)

    assert codes(outcomes) == ["GroupMembership", "already_member", "already_member", "already_member"]
    assert GroupMembership.objects.filter(group=group, member=member, ended__isnull=True).count() == 1


@pytest.mark.concurrency
@pytest.mark.usefixtures("postgres_only")
def test_concurrent_role_changes_start_exactly_one_successor(today):
    membership = GroupMembershipFactory(role="member", started=SEPT_1)
    outcomes = race(
        [lambda role=role: services.change_role(membership, role) for role in ("chair", "treasurer")]
    )

    assert codes(outcomes) == ["GroupMembership", "membership_ended"]
    winner = next(o for o in outcomes if isinstance(o, GroupMembership))
    assert rows(membership.member, membership.group) == [
        ("member", SEPT_1, today),
        (winner.role, today, None),
    ]
