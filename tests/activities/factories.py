import datetime

import factory
from django.utils import timezone

from apps.activities.models import Activity, Participant
from tests.members.factories import MemberFactory


class ActivityFactory(factory.django.DjangoModelFactory):
    """An upcoming, published activity whose registration is open, with unlimited places."""

    class Meta:
        model = Activity

    name = factory.Sequence(lambda n: f"Activity {n}")
    description = "An evening with the association."
    location = "Common room"
    starts_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=7))
    ends_at = factory.LazyAttribute(lambda a: a.starts_at + datetime.timedelta(hours=3))
    price_cents = 0
    participant_limit = None
    waiting_list_limit = None
    # Opened a day ago (or, for an activity placed in the past, two hours before it started).
    registration_opens_at = factory.LazyAttribute(
        lambda a: min(timezone.now() - datetime.timedelta(days=1), a.starts_at - datetime.timedelta(hours=2))
    )
    registration_closes_at = factory.LazyAttribute(lambda a: a.starts_at - datetime.timedelta(hours=1))
    published = True


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    member = factory.SubFactory(MemberFactory)
    activity = factory.SubFactory(ActivityFactory)
    status = Participant.Status.ENROLLED
