from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound

from apps.core.precompiled import PrecompiledQuery
from apps.members.models import Member

# The user's side of Member.user, to ask whether a lookup has joined the member already. Django
# has no public API for "did select_related load this reverse one-to-one"; `is_cached` is its
# FieldCacheMixin's (what the descriptor itself asks), pinned by tests/members/test_selectors.py.
_joined_member = Member.user.field.remote_field

# Every GET /members/me asks this with a different user (apps/core/precompiled.py says why).
_member_by_user_id = PrecompiledQuery(lambda user_id: Member.objects.filter(user_id=user_id), -20_260_001)


def member_for_user(user) -> Member:
    """The member record behind a member's token; 404 when their login has none.

    The API's token lookup has joined it already (apps/api/authentication.py): then no query."""
    if _joined_member.is_cached(user):
        try:
            member: Member | None = user.member
        except Member.DoesNotExist:
            member = None
    else:
        member = _member_by_user_id.first(user.pk)
    if member is None:
        raise NotFound("This account has no member record.")
    member.user = user  # the token's user, already loaded: no second query for it
    return member


def member_by_public_id(public_id) -> Member:
    return get_object_or_404(Member, public_id=public_id)
