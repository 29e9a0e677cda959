import datetime

import factory

from apps.groups.models import Group, GroupMembership
from tests.members.factories import MemberFactory


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    name = factory.Sequence(lambda n: f"Committee {n}")
    kind = Group.Kind.COMMITTEE
    description = ""


class GroupMembershipFactory(factory.django.DjangoModelFactory):
    """A current membership (pass `ended=` for a past one)."""

    class Meta:
        model = GroupMembership

    member = factory.SubFactory(MemberFactory)
    group = factory.SubFactory(GroupFactory)
    role = GroupMembership.DEFAULT_ROLE
    started = datetime.date(2024, 9, 1)
    ended = None
