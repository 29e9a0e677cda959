"""member_for_user takes the member the token's lookup joined, and reads it only when none did."""

import pytest
from rest_framework.exceptions import NotFound

from apps.core.fields import sha256_hex
from apps.members.selectors import member_for_user
from apps.oauth import lookups
from tests.accounts.factories import UserFactory
from tests.api.tokens import issue_token
from tests.members.factories import member_with_login

pytestmark = pytest.mark.django_db


def joined_user(token: str):
    access_token = lookups.access_token_with_member_by_checksum.first(sha256_hex(token))
    assert access_token is not None
    return access_token.user


def test_a_member_joined_into_the_token_lookup_is_used_without_a_query(django_assert_num_queries):
    member = member_with_login()
    user = joined_user(issue_token("member-read", user=member.user))

    with django_assert_num_queries(0):
        found = member_for_user(user)

    assert found == member
    assert found.user is user


def test_a_login_without_a_record_joined_is_404_without_a_query(django_assert_num_queries):
    user = joined_user(issue_token("member-read", user=UserFactory()))

    with django_assert_num_queries(0), pytest.raises(NotFound):
        member_for_user(user)


def test_a_user_no_lookup_joined_is_read(django_assert_num_queries):
    member = member_with_login()
    access_token = lookups.access_token_by_checksum.first(
        sha256_hex(issue_token("member-read", user=member.user))
    )

    with django_assert_num_queries(1):
        found = member_for_user(access_token.user)

    assert found == member


def test_the_joined_lookup_finds_what_the_queryset_finds():
    member = member_with_login()
    checksum = sha256_hex(issue_token("member-read", user=member.user))

    access_token = lookups.access_token_with_member_by_checksum.first(checksum)
    reference = lookups.access_token_with_member_by_checksum.queryset(checksum).first()

    assert access_token == reference
    assert access_token.user.member == reference.user.member == member
    assert access_token.user.member.first_name == member.first_name
