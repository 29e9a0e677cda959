from rest_framework import generics

from apps.api.permissions import TokenKind
from apps.members.models import Member
from apps.members.selectors import member_for_user
from apps.members.serializers import MemberDirectorySerializer, OwnMemberSerializer


class OwnMemberView(generics.RetrieveAPIView):
    """The signed-in member's whole record, private fields included."""

    required_scopes = "member-read"
    token_kind = TokenKind.USER
    serializer_class = OwnMemberSerializer

    def get_object(self) -> Member:
        return member_for_user(self.request.user)


class MemberDirectoryView(generics.ListAPIView):
    """The member directory: names, email, membership; never private fields."""

    required_scopes = "member-read"
    serializer_class = MemberDirectorySerializer
    queryset = Member.objects.all()
    filterset_fields = ("status",)
    search_fields = ("first_name", "last_name", "email")
    ordering_fields = ("last_name", "first_name", "member_since")


class MemberView(generics.RetrieveAPIView):
    required_scopes = "member-read"
    serializer_class = MemberDirectorySerializer
    queryset = Member.objects.all()
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
