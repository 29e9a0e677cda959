"""The stock project's own views: the resource an API would serve, and bare for readiness."""

from typing import cast

from django.contrib.auth.models import User
from django.http import HttpRequest, JsonResponse
from oauth2_provider.contrib.rest_framework import TokenHasScope
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

# The scope the resource requires, one of DOT's two default scopes.
RESOURCE_SCOPE = "read"


def bare(request: HttpRequest) -> JsonResponse:
    """What the harness polls until the server is up (and wrk's spare request, as on Latch)."""
    return JsonResponse({"ok": True})


class MeApi(APIView):
    """The token owner's own small record, as DOT's DRF tutorial protects a view.

    The closest equivalent of Latch's GET /api/v1/members/me: OAuth2Authentication (the project's
    DRF default) finds the token with its application and user in one query, TokenHasScope checks
    the scope, and the answer is the user's own fields from the row that query already loaded.
    """

    permission_classes = [TokenHasScope]
    required_scopes = [RESOURCE_SCOPE]

    def get(self, request: Request) -> Response:
        user = cast(User, request.user)  # every token of the benchmark belongs to a member
        return Response(
            {
                "sub": str(user.pk),
                "username": user.get_username(),
                "email": user.email,
                "first_name": user.first_name,
                "last_name": user.last_name,
            }
        )
