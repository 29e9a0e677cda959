"""Checkout API bodies. Inputs are strict: a string where a number goes, a number where a string goes, or a
field the API does not know is a 400, never a guess (a kiosk that sends "2.50" as amount_cents has a bug
that must surface before it charges anyone).
"""

from collections.abc import Mapping

from django.core.validators import RegexValidator
from rest_framework import serializers

from apps.api.serializers import ModelSerializer
from apps.checkout import selectors
from apps.checkout.models import MAX_AMOUNT_CENTS, Card, Transaction
from apps.members.models import Member

# PostgreSQL's bigint, the type of every primary key: larger ids cannot exist and would overflow a query.
MAX_ID = 2**63 - 1
MAX_QUANTITY = 1000
MAX_LINES = 100


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: not "5", 5.0 or true (which DRF's IntegerField would accept)."""

    def to_internal_value(self, data):
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string only: not 5 or true (which DRF's CharField would turn into "5" and "True")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID in a string only: DRF's UUIDField would also read an integer as a UUID."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class RejectUnknownFields(serializers.Serializer):
    """A field this serializer does not know is an error, not silently dropped."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class ChargeItemInputSerializer(RejectUnknownFields):
    """One line of a charge: a product, charged at its current price, and how many."""

    product_id = StrictIntegerField(min_value=1, max_value=MAX_ID)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class ChargeRequestSerializer(RejectUnknownFields):
    """Exactly one of member or card, and exactly one of items or amount_cents. Unknown fields are refused."""

    member = StrictUUIDField(required=False, help_text="The member's id. Give this or card.")
    card = StrictCharField(
        required=False,
        max_length=64,
        help_text="The identifier (UID) of the member's card. Give this or member.",
    )
    items: serializers.ListSerializer = serializers.ListSerializer(
        child=ChargeItemInputSerializer(),
        required=False,
        allow_empty=False,
        max_length=MAX_LINES,
        help_text="Products to charge at their current price. Give this or amount_cents.",
    )
    amount_cents = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_AMOUNT_CENTS,
        help_text="An amount to charge, in cents (positive). Give this or items.",
    )
    idempotency_key = StrictCharField(
        min_length=1,
        max_length=100,
        trim_whitespace=False,
        validators=[
            RegexValidator(r"\A[\x20-\x7e]+\Z", "Use printable ASCII characters only."),
        ],
        help_text="Unique per charge for this app (e.g. a UUID). A retry with the same key and body "
        "returns the first charge and charges nothing more.",
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=200, default="")

    def validate_member(self, public_id) -> Member:
        member = Member.objects.filter(public_id=public_id).first()
        if member is None:
            raise serializers.ValidationError("No member with this id.")
        return member

    def validate_card(self, identifier: str) -> Card:
        card = selectors.card_by_identifier(identifier)
        if card is None:
            raise serializers.ValidationError("Unknown card.")
        return card

    def validate(self, attrs: dict) -> dict:
        if ("member" in attrs) == ("card" in attrs):
            raise serializers.ValidationError("Give exactly one of member or card.")
        if ("items" in attrs) == ("amount_cents" in attrs):
            raise serializers.ValidationError("Give exactly one of items or amount_cents.")
        return attrs


class MemberQuerySerializer(serializers.Serializer):
    """The member an app token asks about (query parameters)."""

    member = serializers.UUIDField(required=False, help_text="App tokens: the member's id (or card).")
    card = serializers.CharField(
        required=False,
        max_length=64,
        help_text="App tokens: the identifier of the member's card (or member).",
    )


class CheckoutItemSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price_cents = serializers.IntegerField()


class CheckoutTransactionSerializer(ModelSerializer):
    kind = serializers.ChoiceField(choices=Transaction.Kind.choices, read_only=True)
    items = CheckoutItemSerializer(many=True, read_only=True)
    application = serializers.CharField(
        source="application.name",
        read_only=True,
        allow_null=True,
        help_text="The name of the app that made this charge; null for an administrator's entry.",
    )

    class Meta:
        model = Transaction
        fields: tuple[str, ...] = (
            "id",
            "amount_cents",
            "kind",
            "items",
            "description",
            "application",
            "created_at",
        )
        read_only_fields = fields


class CheckoutBalanceSerializer(serializers.Serializer):
    member = serializers.UUIDField(source="member.public_id", help_text="The member's id.")
    balance_cents = serializers.IntegerField()
    overdraft_limit_cents = serializers.IntegerField(help_text="How far below zero the balance may go.")
    available_cents = serializers.IntegerField(help_text="What the member can still spend.")


class ChargeResultSerializer(serializers.Serializer):
    transaction = CheckoutTransactionSerializer()
    balance = CheckoutBalanceSerializer(help_text="The member's balance right after this charge.")


class ChargeRefusedSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="insufficient_funds or idempotency_key_reused")
    error_description = serializers.CharField()
    amount_cents = serializers.IntegerField(
        required=False, help_text="insufficient_funds: the amount this charge needed."
    )
    available_cents = serializers.IntegerField(
        required=False, help_text="insufficient_funds: what the member can still spend."
    )
