import pytest

from apps.groups.demo import load_demo
from apps.groups.models import Group, GroupMembership
from apps.members.models import Member
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple]:
    return list(
        GroupMembership.objects.order_by("pk").values_list(
            "group__name", "member_id", "role", "started", "ended"
        )
    )


def test_load_demo_makes_groups_with_current_members_and_some_history():
    members = MemberFactory.create_batch(3)

    load_demo(members)

    assert Group.objects.count() == 5
    assert set(Group.objects.values_list("kind", flat=True)) == set(Group.Kind.values)
    board = Group.objects.get(name="Board")
    assert sorted(board.memberships.filter(ended__isnull=True).values_list("role", flat=True)) == [
        "chair",
        "secretary",
        "treasurer",
    ]
    assert board.memberships.filter(ended__isnull=False).count() == 1


def test_load_demo_twice_changes_nothing():
    members = MemberFactory.create_batch(3)
    load_demo(members)
    before = snapshot()

    load_demo(list(Member.objects.order_by("pk")))

    assert snapshot() == before
    assert Group.objects.count() == 5


def test_load_demo_with_one_member_gives_them_one_role_per_group():
    load_demo([MemberFactory()])

    assert GroupMembership.objects.filter(ended__isnull=True).count() == 5
    assert GroupMembership.objects.filter(ended__isnull=False).count() == 1


def test_load_demo_without_members_makes_empty_groups():
    load_demo([])

    assert Group.objects.count() == 5
    assert not GroupMembership.objects.exists()
