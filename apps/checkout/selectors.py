from dataclasses import dataclass

from django.db.models import F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from rest_framework.exceptions import NotFound

from apps.checkout.models import Balance, Card, Transaction, normalize_card_identifier
from apps.checkout.services import overdraft_limit_cents
from apps.members.models import Member


@dataclass(frozen=True)
class BalanceSummary:
    member: Member
    balance_cents: int
    overdraft_limit_cents: int

    @property
    def available_cents(self) -> int:
        """What the member can still spend: the balance plus the overdraft they are allowed."""
        return max(self.balance_cents + self.overdraft_limit_cents, 0)


def balance_for(member: Member, balance_cents: int | None = None) -> BalanceSummary:
    """The member's balance (0 before their first transaction), or `balance_cents` as of a transaction."""
    if balance_cents is None:
        row = Balance.objects.filter(member=member).values_list("balance_cents", flat=True).first()
        balance_cents = row or 0
    return BalanceSummary(
        member=member, balance_cents=balance_cents, overdraft_limit_cents=overdraft_limit_cents()
    )


def transactions_for(member: Member) -> QuerySet[Transaction]:
    """The member's ledger, newest first."""
    return (
        Transaction.objects.filter(member=member).select_related("application").order_by("-created_at", "-id")
    )


def active_card(identifier: str) -> Card | None:
    return (
        Card.objects.filter(identifier=normalize_card_identifier(identifier), active=True)
        .select_related("member")
        .first()
    )


def card_by_identifier(identifier: str) -> Card | None:
    """A card whether active or blocked (a charge refuses a blocked card itself, after replay checks)."""
    return (
        Card.objects.filter(identifier=normalize_card_identifier(identifier)).select_related("member").first()
    )


def member_for_reading(*, public_id=None, card_identifier: str | None = None) -> Member:
    """The member an app asks about, by public id or by an active card; 404 otherwise.

    A blocked card reads as unknown: whoever holds a lost card must not learn the owner's balance.
    """
    if public_id is not None:
        member = Member.objects.filter(public_id=public_id).first()
        if member is None:
            raise NotFound("No member with this id.")
        return member
    card = active_card(card_identifier or "")
    if card is None:
        raise NotFound("No active card with this identifier.")
    return card.member


def balances_with_ledger() -> QuerySet[Balance]:
    """Balances annotated with `ledger_cents`, the sum of the member's transactions, to compare."""
    ledger = (
        Transaction.objects.filter(member=OuterRef("member"))
        .order_by()
        .values("member")
        .annotate(total=Sum("amount_cents"))
        .values("total")
    )
    return Balance.objects.select_related("member").annotate(
        ledger_cents=Coalesce(Subquery(ledger), Value(0))
    )


def balance_mismatches() -> QuerySet[Balance]:
    """Balances that differ from the sum of their ledger; always empty unless something bypassed services."""
    return balances_with_ledger().exclude(balance_cents=F("ledger_cents"))
