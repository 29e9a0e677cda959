"""Checkout API. A member's token reads that member's own account; an app's token (the bar's kiosk) names
the member by `member` (id) or `card`, and only an app's own token may charge.
"""

from typing import cast

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.permissions import TokenKind, is_user_token
from apps.checkout import selectors, services
from apps.checkout.filters import TransactionFilter
from apps.checkout.models import Transaction
from apps.checkout.serializers import (
    ChargeRefusedSerializer,
    ChargeRequestSerializer,
    ChargeResultSerializer,
    CheckoutBalanceSerializer,
    CheckoutTransactionSerializer,
    MemberQuerySerializer,
)
from apps.members.models import Member
from apps.members.selectors import member_for_user
from apps.oauth.models import AccessToken

MEMBER_PARAMETERS = ("member", "card")


def checkout_member(request: Request) -> Member:
    """Whose account a read is about: the token's member, or the one an app names (exactly one way)."""
    named = [name for name in MEMBER_PARAMETERS if name in request.query_params]
    if is_user_token(request):
        if named:
            raise ValidationError(
                {
                    name: ["A member's token reads only the member's own account; leave this out."]
                    for name in named
                }
            )
        return member_for_user(request.user)
    if len(named) != 1:
        raise ValidationError({"non_field_errors": ["An app's token names the member: give member or card."]})
    query = MemberQuerySerializer(data={name: request.query_params[name] for name in named})
    query.is_valid(raise_exception=True)
    return selectors.member_for_reading(
        public_id=query.validated_data.get("member"), card_identifier=query.validated_data.get("card")
    )


class BalanceView(APIView):
    """The member's balance, what the overdraft limit allows and what they can still spend."""

    required_scopes = "checkout-read"

    @extend_schema(parameters=[MemberQuerySerializer], responses=CheckoutBalanceSerializer)
    def get(self, request: Request) -> Response:
        summary = selectors.balance_for(checkout_member(request))
        return Response(CheckoutBalanceSerializer(summary).data)


class TransactionListView(generics.ListAPIView):
    """The member's transactions, newest first."""

    required_scopes = "checkout-read"
    serializer_class = CheckoutTransactionSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = TransactionFilter

    @extend_schema(parameters=[MemberQuerySerializer])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Transaction]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular generating the schema
            return Transaction.objects.none()
        return selectors.transactions_for(checkout_member(self.request))


class ChargeView(APIView):
    """Charge a member, named by id or card, for products or an amount. Idempotent per key.

    A new charge answers 201. A retry with the same idempotency_key and body answers 200 with the
    same body and `Idempotent-Replayed: true`, and charges nothing.
    """

    required_scopes = "checkout-write"
    token_kind = TokenKind.APP

    @extend_schema(
        request=ChargeRequestSerializer,
        responses={
            201: ChargeResultSerializer,
            200: OpenApiResponse(
                ChargeResultSerializer,
                description="A replay of an earlier charge with this key (header Idempotent-Replayed: true).",
            ),
            409: OpenApiResponse(
                ChargeRefusedSerializer,
                description="insufficient_funds, or idempotency_key_reused for a different request.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ChargeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            entry, created = services.charge(
                application=cast(AccessToken, request.auth).application,
                member=data.get("member"),
                card=data.get("card"),
                items=data.get("items"),
                amount_cents=data.get("amount_cents"),
                idempotency_key=data["idempotency_key"],
                description=data["description"],
            )
        except services.InsufficientFunds as exc:
            return Response(
                {
                    "error": "insufficient_funds",
                    "error_description": str(exc.detail),
                    "amount_cents": exc.amount_cents,
                    "available_cents": exc.available_cents,
                },
                status=status.HTTP_409_CONFLICT,
            )
        body = ChargeResultSerializer(
            {"transaction": entry, "balance": selectors.balance_for(entry.member, entry.balance_after_cents)}
        ).data
        if created:
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body, status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"})
