from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound

from apps.core.precompiled import PrecompiledQuery
from apps.members.models import Member

# Every GET /members/me asks this with a different user (apps/core/precompiled.py says why).
_member_by_user_id = PrecompiledQuery(lambda user_id: Member.objects.filter(user_id=user_id), -20_260_001)


def member_for_user(user) -> Member:
    """The member record behind a member's token; 404 when their login has none."""
    member = _member_by_user_id.first(user.pk)
    if member is None:
        raise NotFound("This account has no member record.")
    member.user = user  # the token's user, already loaded: no second query for it
    return member


def member_by_public_id(public_id) -> Member:
    return get_object_or_404(Member, public_id=public_id)
