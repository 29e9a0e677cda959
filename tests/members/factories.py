import datetime

import factory

from apps.members.models import Member
from tests.accounts.factories import UserFactory


class MemberFactory(factory.django.DjangoModelFactory):
    """A member without a login; `member_with_login()` gives one with a User."""

    class Meta:
        model = Member

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"person{n}@example.org")
    birth_date = datetime.date(2001, 4, 1)
    phone = "+31 6 1234 5678"
    street = "Kerkstraat 1"
    postal_code = "1234 AB"
    city = "Utrecht"


def member_with_login(**kwargs) -> Member:
    member = MemberFactory(**kwargs)
    member.user = UserFactory(email=member.email, first_name=member.first_name, last_name=member.last_name)
    member.save()
    return member
