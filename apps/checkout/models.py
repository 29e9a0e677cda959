"""Cashless checkout: cards, products, an append-only ledger of transactions and a balance per member.

Money is integer cents. The ledger (`Transaction`) is the truth; `Balance` is its running sum, kept in
the same database transaction as every insert, and its row is the lock that serialises all money
movements of one member (see `services.py`).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.members.models import Member

# The largest amount one transaction may move (10 000.00). A bar never charges this much; the cap keeps
# sums far inside a 64-bit integer and turns a typo (an extra zero or ten) into a refusal.
MAX_AMOUNT_CENTS = 1_000_000


def format_cents(cents: int) -> str:
    """12.50, -0.05: for the admin and descriptions (the API speaks cents)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def normalize_card_identifier(identifier: str) -> str:
    """Readers report the same RFID UID in either case and sometimes with separators."""
    return "".join(identifier.split()).replace(":", "").upper()


class Card(models.Model):
    """A physical card (an RFID UID) that identifies a member at the bar. Blocked by `active=False`."""

    identifier = models.CharField(
        _("identifier"),
        max_length=64,
        unique=True,
        help_text=_("The card's UID as the reader reports it, e.g. 04A2B3C4D5E6F7."),
    )
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="checkout_cards", verbose_name=_("member")
    )
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Untick to block a lost or stolen card.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ("identifier",)
        verbose_name = _("card")

    def __str__(self) -> str:
        return self.identifier

    def save(self, *args, **kwargs) -> None:
        self.identifier = normalize_card_identifier(self.identifier)
        super().save(*args, **kwargs)


class Product(models.Model):
    name = models.CharField(_("name"), max_length=100)
    price_cents = models.PositiveIntegerField(_("price (cents)"))
    active = models.BooleanField(_("for sale"), default=True)

    class Meta:
        ordering = ("name",)
        verbose_name = _("product")
        constraints = [
            models.CheckConstraint(
                condition=Q(price_cents__gt=0) & Q(price_cents__lte=MAX_AMOUNT_CENTS),
                name="checkout_product_price_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({format_cents(self.price_cents)})"


class Transaction(models.Model):
    """One line of the append-only ledger. Never updated or deleted; a mistake is fixed by a correction."""

    class Kind(models.TextChoices):
        CHARGE = "charge", _("Charge")
        DEPOSIT = "deposit", _("Deposit")
        CORRECTION = "correction", _("Correction")

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="checkout_transactions", verbose_name=_("member")
    )
    amount_cents = models.IntegerField(
        _("amount (cents)"), help_text=_("Negative for a charge, positive for a deposit or refund.")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)
    items = models.JSONField(
        _("items"),
        default=list,
        blank=True,
        help_text=_("For a charge made from products: product_id, name, quantity, unit_price_cents."),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    balance_after_cents = models.BigIntegerField(
        _("balance after (cents)"), help_text=_("The member's balance right after this transaction.")
    )
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="checkout_transactions",
        verbose_name=_("application"),
        help_text=_("The app that made this charge; empty for an administrator's entry."),
    )
    card = models.ForeignKey(
        Card,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transactions",
        verbose_name=_("card"),
        help_text=_("The card presented at the bar, if any."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        help_text=_("The administrator who made this entry."),
    )
    # NULL, not "": an administrator's entry has no key, and the unique constraint skips NULLs.
    idempotency_key = models.CharField(  # noqa: DJ001
        _("idempotency key"), max_length=100, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = _("transaction")
        indexes = [models.Index(fields=["member", "-created_at"], name="checkout_tx_member_created")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_cents=0), name="checkout_tx_amount_nonzero"),
            models.CheckConstraint(
                condition=Q(amount_cents__gte=-MAX_AMOUNT_CENTS) & Q(amount_cents__lte=MAX_AMOUNT_CENTS),
                name="checkout_tx_amount_bounded",
            ),
            models.CheckConstraint(
                condition=~Q(kind="charge") | Q(amount_cents__lt=0), name="checkout_tx_charge_negative"
            ),
            models.CheckConstraint(
                condition=~Q(kind="deposit") | Q(amount_cents__gt=0), name="checkout_tx_deposit_positive"
            ),
            # An app's charge always carries its key; an administrator's entry has neither.
            models.CheckConstraint(
                condition=Q(application__isnull=True, idempotency_key__isnull=True)
                | Q(application__isnull=False, idempotency_key__isnull=False),
                name="checkout_tx_key_with_application",
            ),
            models.UniqueConstraint(
                fields=["application", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="checkout_tx_once_per_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {format_cents(self.amount_cents)} ({self.member})"


class Balance(models.Model):
    """The sum of a member's transactions, and the row locked while their money moves."""

    member = models.OneToOneField(
        Member, on_delete=models.CASCADE, related_name="checkout_balance", verbose_name=_("member")
    )
    balance_cents = models.BigIntegerField(_("balance (cents)"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ("member__last_name", "member__first_name")
        verbose_name = _("balance")

    def __str__(self) -> str:
        return f"{self.member}: {format_cents(self.balance_cents)}"
