"""Joining groups, changing roles and leaving: the history of who held which role is never overwritten.

Each write locks the row that guards its invariant, and the database's constraints (one current
membership per member and group, ended on or after started) stand behind the checks made here.
"""

import datetime
import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from apps.api.exceptions import Conflict
from apps.groups.models import Group, GroupMembership
from apps.members.models import Member

logger = logging.getLogger(__name__)


def _already_member(group: Group, member: Member) -> Conflict:
    return Conflict(f"{member} is already a member of {group}.", code="already_member")


def _membership_ended(membership: GroupMembership) -> Conflict:
    return Conflict(f"This membership ended on {membership.ended:%Y-%m-%d}.", code="membership_ended")


def _validate(membership: GroupMembership) -> None:
    """The model's field and date rules, as a 400 the API and the admin can both show."""
    try:
        membership.full_clean(validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict) from exc


def _insert(membership: GroupMembership) -> GroupMembership:
    try:
        # A savepoint, so the caller's transaction survives a refused insert.
        with transaction.atomic():
            membership.save()
    except IntegrityError as exc:
        # Only reachable in a race the locks did not cover: the partial unique constraint decides.
        raise _already_member(membership.group, membership.member) from exc
    return membership


@transaction.atomic
def add_member(
    group: Group,
    member: Member,
    role: str = GroupMembership.DEFAULT_ROLE,
    started: datetime.date | None = None,
) -> GroupMembership:
    """Start a current membership; 409 `already_member` when the member already has one."""
    # Everyone joining this group queues on its row, so the check below cannot go stale.
    Group.objects.select_for_update().filter(pk=group.pk).first()
    membership = GroupMembership(
        group=group, member=member, role=role.strip(), started=started or timezone.localdate()
    )
    _validate(membership)
    if GroupMembership.objects.filter(group=group, member=member, ended__isnull=True).exists():
        raise _already_member(group, member)
    _insert(membership)
    logger.info(
        "group.member_added",
        extra={"group": group.pk, "member": member.pk, "membership": membership.pk, "role": membership.role},
    )
    return membership


@transaction.atomic
def change_role(membership: GroupMembership, role: str) -> GroupMembership:
    """End the current membership today and start a new one with `role`; return the new one.

    The same role again changes nothing and returns the membership as it is.
    """
    memberships = GroupMembership.objects.select_for_update().select_related("group", "member")
    current = memberships.get(pk=membership.pk)
    if current.ended is not None:
        raise _membership_ended(current)
    role = role.strip()
    if role == current.role:
        return current
    today = timezone.localdate()
    successor = GroupMembership(group=current.group, member=current.member, role=role, started=today)
    _validate(successor)
    current.ended = today
    _validate(current)
    current.save(update_fields=["ended"])
    _insert(successor)
    membership.ended = current.ended
    logger.info(
        "group.role_changed",
        extra={"group": current.group_id, "ended": current.pk, "started": successor.pk, "role": role},
    )
    return successor


@transaction.atomic
def end_membership(membership: GroupMembership, ended: datetime.date | None = None) -> GroupMembership:
    """End a current membership (today unless `ended` says otherwise); 409 `membership_ended` if it has."""
    current = GroupMembership.objects.select_for_update().get(pk=membership.pk)
    if current.ended is not None:
        raise _membership_ended(current)
    current.ended = ended or timezone.localdate()
    _validate(current)
    current.save(update_fields=["ended"])
    membership.ended = current.ended
    logger.info("group.membership_ended", extra={"group": current.group_id, "membership": current.pk})
    return current
