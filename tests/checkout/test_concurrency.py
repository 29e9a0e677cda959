"""Races on PostgreSQL: many kiosk requests for one member's money at the same moment.

Every charge locks the member's Balance row, so the requests run one after another however they
arrive; without the lock they would all read the same balance and all pass the overdraft check.
"""

from collections import Counter

import pytest

from apps.checkout.models import Balance, Transaction
from tests.api.tokens import issue_token
from tests.checkout.factories import funded_member, ledger_sum
from tests.concurrency import race
from tests.conftest import ApiClient
from tests.members.factories import MemberFactory
from tests.oauth.factories import service_application

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


@pytest.fixture
def overdraft(settings):
    settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS = 500


@pytest.fixture
def kiosk_token() -> str:
    return issue_token("checkout-write", application=service_application(name="Bar kiosk"))


def charge_at_once(bodies: list[dict], token: str) -> list:
    """POST every body to /checkout/charges at the same moment."""
    return race([lambda body=body: ApiClient(token).post("/checkout/charges", body) for body in bodies])


def outcomes(responses) -> Counter:
    return Counter((r.status_code, r.json().get("error")) for r in responses)


def test_fifty_concurrent_charges_stop_exactly_at_the_overdraft_limit(overdraft, kiosk_token):
    member = funded_member(1000)
    bodies = [
        {"member": str(member.public_id), "amount_cents": 100, "idempotency_key": f"charge-{n}"}
        for n in range(50)
    ]

    responses = charge_at_once(bodies, kiosk_token)

    assert outcomes(responses) == Counter({(201, None): 15, (409, "insufficient_funds"): 35})
    assert Transaction.objects.filter(member=member, kind="charge").count() == 15
    assert Balance.objects.get(member=member).balance_cents == -500 == ledger_sum(member)
    # Each success saw the balance the one before it left: the running balances are all distinct.
    after = sorted(r.json()["balance"]["balance_cents"] for r in responses if r.status_code == 201)
    assert after == list(range(-500, 1000, 100))


def test_one_key_sent_by_ten_threads_charges_once(overdraft, kiosk_token):
    member = funded_member(1000)
    body = {"member": str(member.public_id), "amount_cents": 300, "idempotency_key": "tap-42"}

    responses = charge_at_once([body] * 10, kiosk_token)

    assert outcomes(responses) == Counter({(201, None): 1, (200, None): 9})
    assert len({r.json()["transaction"]["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    assert Transaction.objects.filter(member=member, kind="charge").count() == 1
    assert Balance.objects.get(member=member).balance_cents == 700 == ledger_sum(member)


def test_first_charges_of_a_member_without_a_balance_row_create_one_row_and_respect_the_limit(
    overdraft, kiosk_token
):
    member = MemberFactory()
    bodies = [
        {"member": str(member.public_id), "amount_cents": 100, "idempotency_key": f"first-{n}"}
        for n in range(10)
    ]

    responses = charge_at_once(bodies, kiosk_token)

    assert outcomes(responses) == Counter({(201, None): 5, (409, "insufficient_funds"): 5})
    assert Balance.objects.filter(member=member).count() == 1
    assert Balance.objects.get(member=member).balance_cents == -500 == ledger_sum(member)


def test_one_key_raced_for_different_members_charges_only_one_of_them(overdraft, kiosk_token):
    members = [funded_member(1000) for _ in range(5)]
    bodies = [{"member": str(m.public_id), "amount_cents": 100, "idempotency_key": "shared"} for m in members]

    responses = charge_at_once(bodies, kiosk_token)

    assert outcomes(responses) == Counter({(201, None): 1, (409, "idempotency_key_reused"): 4})
    assert Transaction.objects.filter(kind="charge").count() == 1
    for member in members:
        assert Balance.objects.get(member=member).balance_cents == ledger_sum(member)
    assert sorted(Balance.objects.filter(member__in=members).values_list("balance_cents", flat=True)) == [
        900,
        1000,
        1000,
        1000,
        1000,
    ]
