from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.api.serializers import ModelSerializer
from apps.members.models import Member


class MemberDirectorySerializer(ModelSerializer):
    """What apps and other members see: never the private fields."""

    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Member
        fields: tuple[str, ...] = ("id", "first_name", "last_name", "email", "member_since", "status")
        read_only_fields = fields


class AddressSerializer(serializers.Serializer):
    street = serializers.CharField()
    postal_code = serializers.CharField()
    city = serializers.CharField()


class OwnMemberSerializer(MemberDirectorySerializer):
    """The member's whole own record."""

    sub = serializers.SerializerMethodField(help_text="The member's OpenID Connect subject (login id).")
    address = serializers.SerializerMethodField()

    class Meta(MemberDirectorySerializer.Meta):
        fields = (*MemberDirectorySerializer.Meta.fields, "sub", "birth_date", "phone", "address")
        read_only_fields = fields

    def get_sub(self, member: Member) -> str | None:
        return str(member.user.public_id) if member.user is not None else None

    @extend_schema_field(AddressSerializer)
    def get_address(self, member: Member) -> dict[str, str]:
        return {"street": member.street, "postal_code": member.postal_code, "city": member.city}
