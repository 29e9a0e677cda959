"""Checkout admin. The ledger is read-only: an administrator adds deposits and corrections through the
services (which lock the balance and keep it equal to the ledger), and never changes or deletes a line.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.checkout import selectors, services
from apps.checkout.models import MAX_AMOUNT_CENTS, Balance, Card, Product, Transaction, format_cents


@admin.register(Card)
class CardAdmin(admin.ModelAdmin):
    list_display = ("identifier", "member", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("identifier", "member__first_name", "member__last_name", "member__email")
    autocomplete_fields = ("member",)
    readonly_fields = ("created_at",)
    list_select_related = ("member",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "price", "active")
    list_filter = ("active",)
    search_fields = ("name",)

    @admin.display(description=_("price"), ordering="price_cents")
    def price(self, obj: Product) -> str:
        return format_cents(obj.price_cents)


class LedgerEntryForm(forms.ModelForm):
    """A deposit or a correction; saved through the services, never as a plain model save."""

    ENTRY_KINDS = [
        (Transaction.Kind.DEPOSIT.value, Transaction.Kind.DEPOSIT.label),
        (Transaction.Kind.CORRECTION.value, Transaction.Kind.CORRECTION.label),
    ]

    kind = forms.ChoiceField(
        label=_("kind"),
        choices=ENTRY_KINDS,
        help_text=_("Deposit: money paid in. Correction: a refund (positive) or fixing a mistake."),
    )
    amount = forms.DecimalField(
        label=_("amount"),
        max_digits=9,
        decimal_places=2,
        help_text=_("In euros, e.g. 20.00; a correction that takes money off is negative, e.g. -2.50."),
    )

    class Meta:
        model = Transaction
        fields = ("member", "kind", "amount", "description")

    def clean(self) -> dict:
        data = super().clean() or {}
        amount: Decimal | None = data.get("amount")
        kind = data.get("kind")
        if amount is None:
            return data
        cents = int(amount * 100)
        data["amount_cents"] = cents
        if cents == 0:
            self.add_error("amount", _("The amount cannot be zero."))
        elif abs(cents) > MAX_AMOUNT_CENTS:
            self.add_error("amount", _("One entry moves at most %s.") % format_cents(MAX_AMOUNT_CENTS))
        elif kind == Transaction.Kind.DEPOSIT and cents < 0:
            self.add_error("amount", _("A deposit is positive; take money off with a correction."))
        if kind == Transaction.Kind.CORRECTION and not (data.get("description") or "").strip():
            self.add_error("description", _("Say why this correction is made."))
        return data


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "member", "kind", "amount", "description", "application", "created_by")
    list_filter = ("kind", "created_at", "application")
    search_fields = (
        "member__first_name",
        "member__last_name",
        "member__email",
        "description",
        "card__identifier",
    )
    list_select_related = ("member", "application", "created_by")
    date_hierarchy = "created_at"
    autocomplete_fields = ("member",)
    fields = (
        "created_at",
        "member",
        "kind",
        "amount_cents",
        "balance_after_cents",
        "items",
        "description",
        "application",
        "card",
        "idempotency_key",
        "created_by",
    )

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj: Transaction) -> str:
        return format_cents(obj.amount_cents)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = LedgerEntryForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return LedgerEntryForm.Meta.fields
        return self.fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Transaction, form, change: bool) -> None:
        data = form.cleaned_data
        if data["kind"] == Transaction.Kind.DEPOSIT:
            entry = services.deposit(
                member=data["member"],
                amount_cents=data["amount_cents"],
                created_by=request.user,
                description=data["description"],
            )
        else:
            entry = services.record_correction(
                member=data["member"],
                amount_cents=data["amount_cents"],
                created_by=request.user,
                description=data["description"],
            )
        # The admin logs and redirects with `obj`: make it the entry the service wrote.
        for field in Transaction._meta.concrete_fields:
            setattr(obj, field.attname, getattr(entry, field.attname))
        obj._state.adding = False
        obj._state.db = entry._state.db


@admin.register(Balance)
class BalanceAdmin(admin.ModelAdmin):
    list_display = ("member", "balance", "ledger", "matches_ledger", "updated_at")
    search_fields = ("member__first_name", "member__last_name", "member__email")
    actions = ("verify_balances",)
    fields = ("member", "balance_cents", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Balance]:
        return selectors.balances_with_ledger()

    @admin.display(description=_("balance"), ordering="balance_cents")
    def balance(self, obj: Balance) -> str:
        return format_cents(obj.balance_cents)

    @admin.display(description=_("sum of the ledger"))
    def ledger(self, obj: Balance) -> str:
        return format_cents(obj.ledger_cents)  # type: ignore[attr-defined]

    @admin.display(description=_("matches the ledger"), boolean=True)
    def matches_ledger(self, obj: Balance) -> bool:
        return obj.balance_cents == obj.ledger_cents  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description=_("Verify that the selected balances match their ledger"))
    def verify_balances(self, request: HttpRequest, queryset: QuerySet[Balance]) -> None:
        wrong = list(selectors.balance_mismatches().filter(pk__in=queryset.values("pk")))
        if not wrong:
            count = queryset.count()
            self.message_user(
                request,
                ngettext("%d balance matches its ledger.", "All %d balances match their ledger.", count)
                % count,
                messages.SUCCESS,
            )
            return
        self.message_user(
            request,
            _("These balances differ from the sum of their ledger: %s")
            % "; ".join(
                f"{b.member} ({format_cents(b.balance_cents)} vs {format_cents(b.ledger_cents)})"  # type: ignore[attr-defined]
                for b in wrong
            ),
            messages.ERROR,
        )
