import pytest
from rest_framework.exceptions import ValidationError

from apps.checkout import selectors, services
from apps.checkout.models import Balance, Transaction
from apps.checkout.services import IdempotencyKeyReused, InsufficientFunds
from tests.accounts.factories import UserFactory
from tests.checkout.factories import CardFactory, ProductFactory, fund, funded_member, ledger_sum
from tests.members.factories import MemberFactory
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def kiosk():
    return service_application(name="Bar kiosk", allowed_scopes=["checkout-read", "checkout-write"])


@pytest.fixture
def no_overdraft(settings):
    settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS = 0


def balance_of(member) -> int:
    return Balance.objects.get(member=member).balance_cents


# --- charging -------------------------------------------------------------------------------------


def test_charging_an_amount_writes_a_negative_charge_and_lowers_the_balance(kiosk, no_overdraft):
    member = funded_member(1000)

    entry, created = services.charge(
        application=kiosk, member=member, amount_cents=350, idempotency_key="k1", description="Round"
    )

    assert created is True
    assert (entry.kind, entry.amount_cents, entry.items, entry.description) == ("charge", -350, [], "Round")
    assert (entry.application, entry.idempotency_key, entry.card, entry.created_by) == (
        kiosk,
        "k1",
        None,
        None,
    )
    assert entry.balance_after_cents == 650
    assert balance_of(member) == 650 == ledger_sum(member)


def test_charging_products_prices_them_now_and_records_each_line(kiosk, no_overdraft):
    member = funded_member(2000)
    beer = ProductFactory(name="Beer", price_cents=220)
    crisps = ProductFactory(name="Crisps", price_cents=120)

    entry, _ = services.charge(
        application=kiosk,
        member=member,
        items=[{"product_id": beer.pk, "quantity": 3}, {"product_id": crisps.pk, "quantity": 1}],
        idempotency_key="k1",
    )

    assert entry.amount_cents == -(3 * 220 + 120)
    assert entry.items == [
        {"product_id": beer.pk, "name": "Beer", "quantity": 3, "unit_price_cents": 220},
        {"product_id": crisps.pk, "name": "Crisps", "quantity": 1, "unit_price_cents": 120},
    ]
    assert balance_of(member) == 2000 - 780


def test_a_later_price_change_does_not_alter_what_was_charged(kiosk, no_overdraft):
    member = funded_member(2000)
    beer = ProductFactory(name="Beer", price_cents=220)
    entry, _ = services.charge(
        application=kiosk, member=member, items=[{"product_id": beer.pk, "quantity": 1}], idempotency_key="k1"
    )

    beer.price_cents = 300
    beer.save()

    entry.refresh_from_db()
    assert entry.amount_cents == -220
    assert entry.items[0]["unit_price_cents"] == 220


def test_charging_by_card_charges_its_owner_and_records_the_card(kiosk, no_overdraft):
    card = CardFactory(member=funded_member(1000))

    entry, _ = services.charge(application=kiosk, card=card, amount_cents=100, idempotency_key="k1")

    assert entry.member == card.member
    assert entry.card == card
    assert balance_of(card.member) == 900


def test_a_blocked_card_is_refused_and_nothing_is_written(kiosk, no_overdraft):
    card = CardFactory(member=funded_member(1000), active=False)

    with pytest.raises(ValidationError) as refused:
        services.charge(application=kiosk, card=card, amount_cents=100, idempotency_key="k1")

    assert refused.value.detail == {"card": ["This card is blocked."]}
    assert Transaction.objects.filter(kind="charge").count() == 0
    assert balance_of(card.member) == 1000


def test_a_product_off_sale_is_refused_and_nothing_is_written(kiosk, no_overdraft):
    member = funded_member(1000)
    old = ProductFactory(name="Old beer", active=False)

    with pytest.raises(ValidationError) as refused:
        services.charge(
            application=kiosk,
            member=member,
            items=[{"product_id": old.pk, "quantity": 1}],
            idempotency_key="k1",
        )

    assert refused.value.detail == {"items": [f"Old beer (product {old.pk}) is not for sale."]}
    assert balance_of(member) == 1000
    assert Transaction.objects.filter(kind="charge").count() == 0


def test_an_unknown_product_is_refused(kiosk, no_overdraft):
    member = funded_member(1000)

    with pytest.raises(ValidationError) as refused:
        services.charge(
            application=kiosk,
            member=member,
            items=[{"product_id": 987654, "quantity": 1}],
            idempotency_key="k",
        )

    assert refused.value.detail == {"items": ["Unknown product: 987654."]}
    assert balance_of(member) == 1000


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount_cents": 100, "with_card": True}, "non_field_errors"),  # member and card
        ({"amount_cents": 100, "without_member": True}, "non_field_errors"),  # neither
        ({"amount_cents": 100, "items": [{"product_id": 1, "quantity": 1}]}, "non_field_errors"),
        ({}, "non_field_errors"),  # neither items nor amount
        ({"amount_cents": 0}, "amount_cents"),
        ({"amount_cents": -100}, "amount_cents"),
        ({"amount_cents": 1_000_001}, "amount_cents"),
        ({"amount_cents": True}, "amount_cents"),
        ({"amount_cents": "100"}, "amount_cents"),
        ({"items": []}, "items"),
        ({"items": [{"product_id": 1, "quantity": 0}]}, "items"),
        ({"items": ["beer"]}, "items"),
        ({"amount_cents": 100, "idempotency_key": ""}, "idempotency_key"),
        ({"amount_cents": 100, "idempotency_key": "k" * 101}, "idempotency_key"),
    ],
)
def test_malformed_charges_are_refused_and_write_nothing(kiosk, no_overdraft, kwargs, field):
    member = funded_member(1000)
    kwargs = dict(kwargs)
    call = {"application": kiosk, "idempotency_key": kwargs.pop("idempotency_key", "k1")}
    if not kwargs.pop("without_member", False):
        call["member"] = member
    if kwargs.pop("with_card", False):
        call["card"] = CardFactory(member=member)

    with pytest.raises(ValidationError) as refused:
        services.charge(**call, **kwargs)

    assert list(refused.value.detail) == [field]
    assert Transaction.objects.filter(kind="charge").count() == 0
    assert balance_of(member) == 1000


def test_a_charge_of_products_over_the_maximum_is_refused(kiosk, settings):
    settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS = 10_000_000
    member = MemberFactory()
    barrel = ProductFactory(name="Barrel", price_cents=500_000)

    with pytest.raises(ValidationError) as refused:
        services.charge(
            application=kiosk,
            member=member,
            items=[{"product_id": barrel.pk, "quantity": 3}],
            idempotency_key="k",
        )

    assert refused.value.detail == {"items": ["One charge is at most 1000000 cents."]}
    assert not Transaction.objects.exists()


# --- idempotency -----------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_first_charge_and_charges_once(kiosk, no_overdraft):
    member = funded_member(1000)
    first, created = services.charge(application=kiosk, member=member, amount_cents=300, idempotency_key="k1")

    again, created_again = services.charge(
        application=kiosk, member=member, amount_cents=300, idempotency_key="k1"
    )

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Transaction.objects.filter(kind="charge").count() == 1
    assert balance_of(member) == 700


def test_a_retry_is_answered_even_after_the_card_is_blocked_or_the_product_taken_off_sale(
    kiosk, no_overdraft
):
    card = CardFactory(member=funded_member(1000))
    beer = ProductFactory(price_cents=220)
    items = [{"product_id": beer.pk, "quantity": 2}]
    first, _ = services.charge(application=kiosk, card=card, items=items, idempotency_key="k1")
    card.active = False
    card.save()
    beer.active = False
    beer.price_cents = 999
    beer.save()

    again, created = services.charge(application=kiosk, card=card, items=items, idempotency_key="k1")

    assert (again.pk, created) == (first.pk, False)
    assert balance_of(card.member) == 1000 - 440


@pytest.mark.parametrize(
    "change",
    [
        {"amount_cents": 301},
        {"other_member": True},
        {"description": "Another round"},
        {"by_card": True},
    ],
)
def test_the_same_key_for_a_different_request_is_refused(kiosk, no_overdraft, change):
    change = dict(change)
    member = funded_member(1000)
    services.charge(application=kiosk, member=member, amount_cents=300, idempotency_key="k1")
    request = {"member": member, "amount_cents": 300}
    if change.pop("other_member", False):
        request["member"] = funded_member(1000)
    if change.pop("by_card", False):
        request = {"card": CardFactory(member=member), "amount_cents": 300}
    request.update(change)

    with pytest.raises(IdempotencyKeyReused) as refused:
        services.charge(application=kiosk, idempotency_key="k1", **request)

    assert refused.value.get_codes() == "idempotency_key_reused"
    assert Transaction.objects.filter(kind="charge").count() == 1
    assert balance_of(member) == 700


def test_the_same_key_for_other_products_is_refused(kiosk, no_overdraft):
    member = funded_member(1000)
    beer, cola = ProductFactory(), ProductFactory()
    services.charge(
        application=kiosk, member=member, items=[{"product_id": beer.pk, "quantity": 1}], idempotency_key="k"
    )

    with pytest.raises(IdempotencyKeyReused):
        services.charge(
            application=kiosk,
            member=member,
            items=[{"product_id": cola.pk, "quantity": 1}],
            idempotency_key="k",
        )
    with pytest.raises(IdempotencyKeyReused):
        services.charge(application=kiosk, member=member, amount_cents=250, idempotency_key="k")


def test_keys_belong_to_one_app_so_two_apps_may_use_the_same_key(kiosk, no_overdraft):
    member = funded_member(1000)
    other_app = service_application(name="Canteen")

    services.charge(application=kiosk, member=member, amount_cents=100, idempotency_key="k1")
    _, created = services.charge(application=other_app, member=member, amount_cents=100, idempotency_key="k1")

    assert created is True
    assert balance_of(member) == 800


def test_a_key_taken_concurrently_for_another_member_is_refused_and_moves_no_money(
    kiosk, no_overdraft, monkeypatch
):
    """The IntegrityError path: another request inserts this key after our checks, before our insert."""
    member, other = funded_member(1000), funded_member(1000)
    real_limit = services.overdraft_limit_cents

    def competing_insert() -> int:
        # Runs between the re-check under the lock and the insert: the moment a racing request wins.
        monkeypatch.setattr(services, "overdraft_limit_cents", real_limit)
        Transaction.objects.create(
            member=other,
            amount_cents=-100,
            balance_after_cents=900,
            kind="charge",
            application=kiosk,
            idempotency_key="k1",
        )
        return real_limit()

    monkeypatch.setattr(services, "overdraft_limit_cents", competing_insert)

    with pytest.raises(IdempotencyKeyReused):
        services.charge(application=kiosk, member=member, amount_cents=100, idempotency_key="k1")

    assert balance_of(member) == 1000 == ledger_sum(member)
    assert Transaction.objects.filter(member=member, kind="charge").count() == 0


def test_a_key_taken_concurrently_by_the_same_request_returns_the_winner(kiosk, no_overdraft, monkeypatch):
    member = funded_member(1000)
    real_limit = services.overdraft_limit_cents
    winner: list[Transaction] = []

    def competing_insert() -> int:
        monkeypatch.setattr(services, "overdraft_limit_cents", real_limit)
        winner.append(
            Transaction.objects.create(
                member=member,
                amount_cents=-100,
                balance_after_cents=900,
                kind="charge",
                application=kiosk,
                idempotency_key="k1",
            )
        )
        return real_limit()

    monkeypatch.setattr(services, "overdraft_limit_cents", competing_insert)

    entry, created = services.charge(application=kiosk, member=member, amount_cents=100, idempotency_key="k1")

    assert (entry.pk, created) == (winner[0].pk, False)
    assert Transaction.objects.filter(kind="charge").count() == 1


# --- the overdraft limit ---------------------------------------------------------------------------


def test_a_charge_down_to_exactly_the_overdraft_limit_is_allowed(kiosk, settings):
    settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS = 500
    member = funded_member(1000)

    entry, _ = services.charge(application=kiosk, member=member, amount_cents=1500, idempotency_key="k1")

    assert entry.balance_after_cents == -500
    assert balance_of(member) == -500


def test_a_charge_one_cent_past_the_overdraft_limit_is_refused_and_changes_nothing(kiosk, settings):
    settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS = 500
    member = funded_member(1000)

    with pytest.raises(InsufficientFunds) as refused:
        services.charge(application=kiosk, member=member, amount_cents=1501, idempotency_key="k1")

    assert refused.value.get_codes() == "insufficient_funds"
    assert (refused.value.amount_cents, refused.value.available_cents) == (1501, 1500)
    assert balance_of(member) == 1000
    assert Transaction.objects.filter(kind="charge").count() == 0


def test_a_member_without_a_balance_may_spend_only_the_overdraft(kiosk, settings):
    settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS = 200
    member = MemberFactory()

    with pytest.raises(InsufficientFunds):
        services.charge(application=kiosk, member=member, amount_cents=201, idempotency_key="k1")
    services.charge(application=kiosk, member=member, amount_cents=200, idempotency_key="k2")

    assert balance_of(member) == -200


def test_a_refused_key_may_be_used_again_once_there_is_money(kiosk, no_overdraft):
    member = MemberFactory()
    with pytest.raises(InsufficientFunds):
        services.charge(application=kiosk, member=member, amount_cents=100, idempotency_key="k1")
    fund(member, 100)

    _, created = services.charge(application=kiosk, member=member, amount_cents=100, idempotency_key="k1")

    assert created is True
    assert balance_of(member) == 0


# --- deposits and corrections ---------------------------------------------------------------------


def test_a_deposit_raises_the_balance_and_records_the_administrator():
    admin = UserFactory(is_staff=True)
    member = MemberFactory()

    entry = services.deposit(member=member, amount_cents=2000, created_by=admin, description="Cash")

    assert (entry.kind, entry.amount_cents, entry.created_by, entry.application) == (
        "deposit",
        2000,
        admin,
        None,
    )
    assert entry.idempotency_key is None
    assert balance_of(member) == 2000 == entry.balance_after_cents


@pytest.mark.parametrize("amount", [0, -100, 1_000_001])
def test_a_deposit_must_be_positive_and_bounded(amount):
    member = MemberFactory()

    with pytest.raises(ValidationError):
        services.deposit(member=member, amount_cents=amount, created_by=None, description="")

    assert not Transaction.objects.exists()
    assert not Balance.objects.exclude(balance_cents=0).exists()


def test_a_correction_may_take_money_off_even_past_the_overdraft_limit(no_overdraft):
    member = funded_member(100)

    entry = services.record_correction(
        member=member, amount_cents=-300, created_by=None, description="Crate deposit not returned"
    )

    assert (entry.kind, entry.amount_cents) == ("correction", -300)
    assert balance_of(member) == -200 == ledger_sum(member)


def test_a_correction_needs_a_reason_and_a_nonzero_amount():
    member = funded_member(100)

    with pytest.raises(ValidationError) as no_reason:
        services.record_correction(member=member, amount_cents=50, created_by=None, description="  ")
    with pytest.raises(ValidationError) as zero:
        services.record_correction(member=member, amount_cents=0, created_by=None, description="Refund")

    assert no_reason.value.detail == {"description": ["Say why this correction is made."]}
    assert list(zero.value.detail) == ["amount_cents"]
    assert balance_of(member) == 100


# --- balance and ledger -----------------------------------------------------------------------------


def test_each_transaction_records_the_running_balance(kiosk, no_overdraft):
    member = funded_member(1000)
    services.charge(application=kiosk, member=member, amount_cents=300, idempotency_key="k1")
    services.record_correction(member=member, amount_cents=50, created_by=None, description="Refund")

    running = list(
        Transaction.objects.filter(member=member)
        .order_by("id")
        .values_list("amount_cents", "balance_after_cents")
    )

    assert running == [(1000, 1000), (-300, 700), (50, 750)]


def test_balance_summary_before_any_transaction_is_zero_with_the_overdraft_available(settings):
    settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS = 500
    summary = selectors.balance_for(MemberFactory())

    assert (summary.balance_cents, summary.overdraft_limit_cents, summary.available_cents) == (0, 500, 500)


def test_available_is_never_negative_after_a_correction_past_the_limit(no_overdraft):
    member = funded_member(100)
    services.record_correction(member=member, amount_cents=-300, created_by=None, description="Fix")

    assert selectors.balance_for(member).available_cents == 0


def test_balance_mismatches_finds_only_a_balance_that_differs_from_its_ledger():
    good, bad = funded_member(500), funded_member(700)
    assert not selectors.balance_mismatches().exists()

    Balance.objects.filter(member=bad).update(balance_cents=701)

    assert [b.member for b in selectors.balance_mismatches()] == [bad]
    assert good not in [b.member for b in selectors.balance_mismatches()]
