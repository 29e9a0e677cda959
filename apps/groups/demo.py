"""Demo groups for `make run`: a board with its history, two committees, a society and a year."""

import datetime

from django.db import transaction

from apps.groups import services
from apps.groups.models import Group, GroupMembership
from apps.members.models import Member

GROUPS = (
    ("Board", Group.Kind.BOARD, "The association's board: chair, secretary and treasurer."),
    ("Activities Committee", Group.Kind.COMMITTEE, "Plans the drinks, lectures and the yearly trip."),
    ("Audit Committee", Group.Kind.COMMITTEE, "Checks the treasurer's books once a year."),
    ("Chess Society", Group.Kind.SOCIETY, "Plays every Thursday evening in the common room."),
    ("Class of 2024", Group.Kind.YEAR, "Everyone who started in September 2024."),
)

# (group, index into the demo members, role, started)
CURRENT = (
    ("Board", 0, "chair", datetime.date(2025, 9, 1)),
    ("Board", 1, "treasurer", datetime.date(2025, 9, 1)),
    ("Board", 2, "secretary", datetime.date(2025, 9, 1)),
    ("Activities Committee", 1, "chair", datetime.date(2025, 10, 1)),
    ("Activities Committee", 2, "member", datetime.date(2025, 10, 1)),
    ("Audit Committee", 0, "member", datetime.date(2025, 1, 15)),
    ("Chess Society", 2, "member", datetime.date(2024, 10, 3)),
    ("Class of 2024", 1, "member", datetime.date(2024, 9, 1)),
    ("Class of 2024", 2, "member", datetime.date(2024, 9, 1)),
)

# The previous board year, so history shows up in /members/me/groups?include_past=true.
PAST = (("Board", 1, "secretary", datetime.date(2024, 9, 1), datetime.date(2025, 8, 31)),)


@transaction.atomic
def load_demo(members: list[Member]) -> None:
    """Create the demo groups once; a group that exists already (perhaps edited since) is left alone."""
    for name, kind, description in GROUPS:
        group, created = Group.objects.get_or_create(
            name=name, defaults={"kind": kind, "description": description}
        )
        if not created or not members:
            continue
        for _name, index, role, started, ended in (p for p in PAST if p[0] == name):
            GroupMembership.objects.create(
                group=group, member=members[index % len(members)], role=role, started=started, ended=ended
            )
        seen: set[int] = set()
        for _name, index, role, started in (c for c in CURRENT if c[0] == name):
            member = members[index % len(members)]
            if member.pk not in seen:  # fewer demo members than roles: one role each
                seen.add(member.pk)
                services.add_member(group, member, role, started=started)
