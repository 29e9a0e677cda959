"""Every movement of money: charges by apps (the bar's kiosk), deposits and corrections by administrators.

One rule holds for all of them: inside one `transaction.atomic`, lock the member's `Balance` row, check,
insert the ledger line and move the balance by the same amount. The lock serialises every movement of
one member's money, so two charges can never both spend the last euro, and the balance always equals
the sum of the ledger.
"""

import logging
from collections.abc import Sequence
from typing import Any, TypeGuard

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from apps.api.exceptions import Conflict
from apps.checkout.models import MAX_AMOUNT_CENTS, Balance, Card, Product, Transaction
from apps.members.models import Member

logger = logging.getLogger(__name__)


class InsufficientFunds(Conflict):
    default_code = "insufficient_funds"

    def __init__(self, *, balance_cents: int, amount_cents: int, overdraft_limit_cents: int) -> None:
        self.balance_cents = balance_cents
        self.amount_cents = amount_cents
        self.overdraft_limit_cents = overdraft_limit_cents
        self.available_cents = max(balance_cents + overdraft_limit_cents, 0)
        super().__init__(
            f"Insufficient funds: this charge is {amount_cents} cents and {self.available_cents} cents "
            "are available.",
            code="insufficient_funds",
        )


class IdempotencyKeyReused(Conflict):
    default_code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This idempotency key was already used for a different request; use a new key per charge.",
            code="idempotency_key_reused",
        )


def overdraft_limit_cents() -> int:
    return settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS


def _locked_balance(member: Member) -> Balance:
    """The member's Balance row, locked until the surrounding transaction ends; made on first use.

    `get_or_create` inserts inside a savepoint and, when a concurrent request inserted the row first
    (IntegrityError on the one-to-one), reads that row instead; the lock is taken afterwards.
    """
    Balance.objects.get_or_create(member=member)
    return Balance.objects.select_for_update().get(member=member)


def _apply(balance: Balance, amount_cents: int, **fields: Any) -> Transaction:
    """Insert the ledger line and move the (locked) balance by the same amount."""
    new_balance = balance.balance_cents + amount_cents
    entry = Transaction.objects.create(
        member_id=balance.member_id, amount_cents=amount_cents, balance_after_cents=new_balance, **fields
    )
    balance.balance_cents = new_balance
    balance.save(update_fields=["balance_cents", "updated_at"])
    return entry


def _check_amount(amount_cents: object, *, field: str = "amount_cents", signed: bool = False) -> int:
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise ValidationError({field: ["A whole number of cents is required."]})
    if amount_cents == 0 or (amount_cents < 0 and not signed):
        raise ValidationError({field: ["The amount must be more than zero cents."]})
    if abs(amount_cents) > MAX_AMOUNT_CENTS:
        raise ValidationError({field: [f"One transaction moves at most {MAX_AMOUNT_CENTS} cents."]})
    return amount_cents


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _requested_lines(items: Sequence[dict[str, Any]]) -> list[tuple[int, int]]:
    """(product_id, quantity) per line, checked; the same product may appear on several lines."""
    if not isinstance(items, list | tuple) or not items:
        raise ValidationError({"items": ["A non-empty list of items is required."]})
    lines: list[tuple[int, int]] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationError({"items": ["Each item is an object with a product_id and a quantity."]})
        product_id, quantity = item.get("product_id"), item.get("quantity")
        if not (_is_count(product_id) and _is_count(quantity)):
            raise ValidationError({"items": ["Each item needs a product_id and a quantity of 1 or more."]})
        lines.append((product_id, quantity))
    return lines


def _priced(lines: list[tuple[int, int]]) -> tuple[list[dict[str, Any]], int]:
    """The ledger's item lines at today's prices, and their total in cents (positive)."""
    products = Product.objects.in_bulk([product_id for product_id, _ in lines])
    priced, total = [], 0
    for product_id, quantity in lines:
        product = products.get(product_id)
        if product is None:
            raise ValidationError({"items": [f"Unknown product: {product_id}."]})
        if not product.active:
            raise ValidationError({"items": [f"{product.name} (product {product_id}) is not for sale."]})
        priced.append(
            {
                "product_id": product.pk,
                "name": product.name,
                "quantity": quantity,
                "unit_price_cents": product.price_cents,
            }
        )
        total += quantity * product.price_cents
        if total > MAX_AMOUNT_CENTS:
            raise ValidationError({"items": [f"One charge is at most {MAX_AMOUNT_CENTS} cents."]})
    return priced, total


def _same_request(
    entry: Transaction,
    *,
    member: Member | None,
    card: Card | None,
    lines: list[tuple[int, int]] | None,
    amount_cents: int | None,
    description: str,
) -> bool:
    if card is not None:
        same_payer = entry.card_id == card.pk
    else:
        same_payer = member is not None and entry.card_id is None and entry.member_id == member.pk
    if lines is not None:
        same_charge = [(item["product_id"], item["quantity"]) for item in entry.items] == lines
    else:
        same_charge = not entry.items and entry.amount_cents == -(amount_cents or 0)
    return same_payer and same_charge and entry.description == description


def charge(
    *,
    application,
    member: Member | None = None,
    card: Card | None = None,
    items: Sequence[dict[str, Any]] | None = None,
    amount_cents: int | None = None,
    idempotency_key: str,
    description: str = "",
) -> tuple[Transaction, bool]:
    """Charge a member (named directly or by card) for products or an amount, exactly once per key.

    Returns the transaction and whether this call created it. A retry with the same key and request
    returns the first transaction (False) and charges nothing; the same key for another request is a
    Conflict `idempotency_key_reused`. A charge that would take the balance below minus the overdraft
    limit is a Conflict `insufficient_funds`.
    """
    if card is not None and member is None:
        payer = card.member
    elif member is not None and card is None:
        payer = member
    else:
        raise ValidationError({"non_field_errors": ["Give exactly one of member or card."]})
    if (items is None) == (amount_cents is None):
        raise ValidationError({"non_field_errors": ["Give exactly one of items or amount_cents."]})
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 100:
        raise ValidationError({"idempotency_key": ["A key of 1 to 100 characters is required."]})
    lines = _requested_lines(items) if items is not None else None
    if amount_cents is not None:
        _check_amount(amount_cents)

    def replay(entry: Transaction) -> tuple[Transaction, bool]:
        same = _same_request(
            entry, member=member, card=card, lines=lines, amount_cents=amount_cents, description=description
        )
        if not same:
            logger.info("checkout.key_reused transaction=%s client=%s", entry.pk, application.client_id)
            raise IdempotencyKeyReused()
        return entry, False

    previous = Transaction.objects.filter(application=application, idempotency_key=idempotency_key)
    with transaction.atomic():
        # A replay is answered before anything else is checked: the card may have been blocked or a
        # product taken off sale since the first request, which must not turn its retry into an error.
        if entry := previous.first():
            return replay(entry)
        if card is not None and not card.active:
            raise ValidationError({"card": ["This card is blocked."]})
        if lines is not None:
            priced_items, total = _priced(lines)
        else:
            priced_items, total = [], amount_cents or 0

        balance = _locked_balance(payer)
        # Looked up again under the lock: a concurrent request with this key for the same member
        # held the lock until it committed, and its transaction is visible now.
        if entry := previous.first():
            return replay(entry)
        limit = overdraft_limit_cents()
        if balance.balance_cents - total < -limit:
            logger.info(
                "checkout.insufficient_funds member=%s amount_cents=%s balance_cents=%s client=%s",
                payer.pk,
                total,
                balance.balance_cents,
                application.client_id,
            )
            raise InsufficientFunds(
                balance_cents=balance.balance_cents, amount_cents=total, overdraft_limit_cents=limit
            )
        try:
            with transaction.atomic():
                entry = _apply(
                    balance,
                    -total,
                    kind=Transaction.Kind.CHARGE,
                    items=priced_items,
                    description=description,
                    application=application,
                    card=card,
                    idempotency_key=idempotency_key,
                )
        except IntegrityError:
            # The same key for another member (another lock) was inserted concurrently and won.
            # `_apply` rolled back to the savepoint before the balance moved.
            winner = previous.first()
            if winner is None:
                raise
            return replay(winner)
    logger.info(
        "checkout.charged transaction=%s member=%s amount_cents=%s client=%s",
        entry.pk,
        payer.pk,
        -total,
        application.client_id,
    )
    return entry, True


@transaction.atomic
def deposit(*, member: Member, amount_cents: int, created_by, description: str = "") -> Transaction:
    """Money the member paid in (cash, bank transfer), entered by an administrator."""
    _check_amount(amount_cents)
    entry = _apply(
        _locked_balance(member),
        amount_cents,
        kind=Transaction.Kind.DEPOSIT,
        description=description,
        created_by=created_by,
    )
    logger.info(
        "checkout.deposited transaction=%s member=%s amount_cents=%s by=%s",
        entry.pk,
        member.pk,
        amount_cents,
        getattr(created_by, "pk", None),
    )
    return entry


@transaction.atomic
def record_correction(*, member: Member, amount_cents: int, created_by, description: str) -> Transaction:
    """A refund (positive) or a correction of a mistake (either sign), entered by an administrator.

    The ledger is append-only: a wrong charge is never edited, it is answered by a correction. A
    correction may take the balance below the overdraft limit, since it records what really happened.
    """
    _check_amount(amount_cents, signed=True)
    if not description.strip():
        raise ValidationError({"description": ["Say why this correction is made."]})
    entry = _apply(
        _locked_balance(member),
        amount_cents,
        kind=Transaction.Kind.CORRECTION,
        description=description,
        created_by=created_by,
    )
    logger.info(
        "checkout.corrected transaction=%s member=%s amount_cents=%s by=%s",
        entry.pk,
        member.pk,
        amount_cents,
        getattr(created_by, "pk", None),
    )
    return entry
