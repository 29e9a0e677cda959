"""Model serializers build their fields once per class; every instance still gets fields of its own."""

import pytest

from apps.members.serializers import MemberDirectorySerializer, OwnMemberSerializer
from tests.members.factories import member_with_login

pytestmark = pytest.mark.django_db


def test_each_instance_gets_its_own_bound_fields():
    member = member_with_login()
    first, second = OwnMemberSerializer(member), OwnMemberSerializer(member)

    assert first.fields["sub"] is not second.fields["sub"]
    assert first.fields["sub"].parent is first
    assert second.fields["sub"].parent is second


def test_a_subclass_does_not_reuse_its_parents_fields():
    member = member_with_login()

    directory = MemberDirectorySerializer(member).data
    own = OwnMemberSerializer(member).data

    assert "phone" not in directory
    assert "sub" not in directory
    assert own["phone"] == member.phone
    assert own["sub"] == str(member.user.public_id)
    assert MemberDirectorySerializer(member).data == directory  # after the subclass built its own


def test_the_same_class_serializes_different_instances():
    ada, bob = member_with_login(first_name="Ada"), member_with_login(first_name="Bob")

    assert [OwnMemberSerializer(m).data["first_name"] for m in (ada, bob, ada)] == ["Ada", "Bob", "Ada"]
