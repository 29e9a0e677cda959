from django.db.models import Count, Prefetch, Q, QuerySet
from rest_framework.exceptions import NotFound

from apps.groups.models import Group, GroupMembership
from apps.members.models import Member


def _current_memberships() -> QuerySet[GroupMembership]:
    return (
        GroupMembership.objects.filter(ended__isnull=True)
        .select_related("member")
        .order_by("member__last_name", "member__first_name", "pk")
    )


def group_current_memberships(group: Group) -> QuerySet[GroupMembership]:
    """The group's current memberships, by member name."""
    return _current_memberships().filter(group=group)


def member_memberships(member: Member, *, include_past: bool = False) -> QuerySet[GroupMembership]:
    """The member's current memberships (with `include_past`, ended ones too), by group name, newest first."""
    memberships = GroupMembership.objects.filter(member=member).select_related("group")
    if not include_past:
        memberships = memberships.filter(ended__isnull=True)
    return memberships.order_by("group__name", "-started", "-pk")


def group_list() -> QuerySet[Group]:
    """Every group, each annotated with `member_count`: its current members."""
    return Group.objects.annotate(
        member_count=Count("memberships", filter=Q(memberships__ended__isnull=True))
    ).order_by("name")


def group_with_current_members(group_id: int) -> Group:
    """One group with `member_count` and `current_memberships`; 404 when there is none."""
    group = (
        group_list()
        .prefetch_related(Prefetch("memberships", _current_memberships(), to_attr="current_memberships"))
        .filter(pk=group_id)
        .first()
    )
    if group is None:
        raise NotFound("There is no group with this id.")
    return group
