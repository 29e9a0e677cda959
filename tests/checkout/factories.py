import factory

from apps.checkout import services
from apps.checkout.models import Card, Product, Transaction
from apps.members.models import Member
from tests.members.factories import MemberFactory


class CardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Card

    identifier = factory.Sequence(lambda n: f"04A1B2C3{n:06X}")
    member = factory.SubFactory(MemberFactory)
    active = True


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    price_cents = 250
    active = True


def fund(member: Member, balance_cents: int) -> Member:
    """Give the member a balance by one deposit (through the service, so the Balance row matches)."""
    services.deposit(member=member, amount_cents=balance_cents, created_by=None, description="Opening")
    return member


def funded_member(balance_cents: int, **kwargs) -> Member:
    return fund(MemberFactory(**kwargs), balance_cents)


def ledger_sum(member: Member) -> int:
    return sum(Transaction.objects.filter(member=member).values_list("amount_cents", flat=True))
