from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.permissions import TokenKind
from apps.groups.models import Group
from apps.groups.selectors import group_list, group_with_current_members, member_memberships
from apps.groups.serializers import (
    GroupDetailSerializer,
    GroupSerializer,
    OwnGroupSerializer,
    OwnGroupsQuerySerializer,
)
from apps.members.selectors import member_for_user


class GroupListView(generics.ListAPIView):
    """The association's groups, each with how many current members it has."""

    required_scopes = "group-read"
    serializer_class = GroupSerializer
    filterset_fields = ("kind",)
    search_fields = ("name",)
    ordering_fields = ("name", "kind", "member_count")
    ordering = ("name",)

    def get_queryset(self):
        return group_list()


class GroupDetailView(generics.RetrieveAPIView):
    """One group and its current members with their roles (names only: no email, no private fields)."""

    required_scopes = "group-read"
    serializer_class = GroupDetailSerializer

    def get_object(self) -> Group:
        return group_with_current_members(self.kwargs["id"])


class OwnGroupsView(generics.GenericAPIView):
    """The groups the signed-in member belongs to, with their role; `include_past` adds ended ones."""

    required_scopes = "group-read"
    token_kind = TokenKind.USER
    serializer_class = OwnGroupSerializer
    pagination_class = None
    filter_backends = ()

    @extend_schema(
        tags=["groups"], parameters=[OwnGroupsQuerySerializer], responses=OwnGroupSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        query = OwnGroupsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        member = member_for_user(request.user)
        memberships = member_memberships(member, include_past=query.validated_data["include_past"])
        return Response(self.get_serializer(memberships, many=True).data)
