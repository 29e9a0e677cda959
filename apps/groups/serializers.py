from rest_framework import serializers

from apps.api.serializers import ModelSerializer
from apps.groups.models import Group, GroupMembership


class GroupSerializer(ModelSerializer):
    kind = serializers.ChoiceField(choices=Group.Kind.choices, read_only=True)
    member_count = serializers.IntegerField(read_only=True, help_text="How many current members it has.")

    class Meta:
        model = Group
        fields: tuple[str, ...] = ("id", "name", "kind", "description", "member_count")
        read_only_fields = fields


class GroupMemberSerializer(ModelSerializer):
    """A current member of a group: their name and role, never their email or private fields."""

    id = serializers.UUIDField(source="member.public_id", read_only=True, help_text="The member's id.")
    first_name = serializers.CharField(source="member.first_name", read_only=True)
    last_name = serializers.CharField(source="member.last_name", read_only=True)
    since = serializers.DateField(source="started", read_only=True, help_text="When they took this role.")

    class Meta:
        model = GroupMembership
        fields = ("id", "first_name", "last_name", "role", "since")
        read_only_fields = fields


class GroupDetailSerializer(GroupSerializer):
    members = GroupMemberSerializer(
        source="current_memberships", many=True, read_only=True, help_text="Its current members."
    )

    class Meta(GroupSerializer.Meta):
        fields = (*GroupSerializer.Meta.fields, "members")
        read_only_fields = fields


class OwnGroupSerializer(ModelSerializer):
    """One of the member's memberships: the group, their role in it, and for how long."""

    id = serializers.IntegerField(source="group.id", read_only=True, help_text="The group's id.")
    name = serializers.CharField(source="group.name", read_only=True)
    kind = serializers.ChoiceField(choices=Group.Kind.choices, source="group.kind", read_only=True)
    since = serializers.DateField(source="started", read_only=True, help_text="When they took this role.")
    ended = serializers.DateField(
        read_only=True, allow_null=True, help_text="When it ended; null while it is current."
    )

    class Meta:
        model = GroupMembership
        fields = ("id", "name", "kind", "role", "since", "ended")
        read_only_fields = fields


class OwnGroupsQuerySerializer(serializers.Serializer):
    include_past = serializers.BooleanField(
        default=False, help_text="Also list memberships that have ended (with `ended` set)."
    )
