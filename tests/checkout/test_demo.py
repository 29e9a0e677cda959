import pytest

from apps.checkout.demo import OPENING_DEPOSIT_CENTS, PRODUCTS, ROUNDS, load_demo
from apps.checkout.models import Card, Product, Transaction
from apps.checkout.selectors import balance_mismatches
from tests.members.factories import MemberFactory
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db


def test_demo_data_is_created_once_however_often_it_is_loaded():
    service_application(client_id="demo-kiosk", name="Bar kiosk")
    members = MemberFactory.create_batch(2)

    load_demo(members)
    first = list(Transaction.objects.order_by("id").values_list("id", "amount_cents"))
    load_demo(members)

    assert Product.objects.count() == len(PRODUCTS)
    assert Card.objects.count() == 2
    assert list(Transaction.objects.order_by("id").values_list("id", "amount_cents")) == first
    assert len(first) == 2 * (1 + len(ROUNDS))
    assert Transaction.objects.filter(kind="deposit", amount_cents=OPENING_DEPOSIT_CENTS).count() == 2
    assert not balance_mismatches().exists()


def test_demo_without_the_kiosk_app_still_gives_cards_and_money():
    member = MemberFactory()

    load_demo([member])

    assert member.checkout_cards.count() == 1
    assert list(Transaction.objects.values_list("kind", flat=True)) == ["deposit"]
