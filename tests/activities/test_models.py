"""The invariants the database keeps, and the admin's form validation for them."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.activities.models import Activity
from tests.activities.factories import ActivityFactory

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"ends_at": "starts_at"}, id="ends-when-it-starts"),
        pytest.param({"ends_at": -HOUR}, id="ends-before-it-starts"),
        pytest.param({"registration_closes_at": HOUR}, id="registration-closes-after-start"),
        pytest.param(
            {"registration_opens_at": -HOUR, "registration_closes_at": -2 * HOUR}, id="opens-after-close"
        ),
        pytest.param({"price_cents": -1}, id="negative-price"),
        pytest.param({"participant_limit": 0}, id="zero-participant-limit"),
    ],
)
def test_the_database_refuses_an_inconsistent_activity(changes):
    activity = ActivityFactory()
    values = {}
    for field, change in changes.items():
        if change == "starts_at":
            values[field] = activity.starts_at
        elif isinstance(change, datetime.timedelta):
            values[field] = activity.starts_at + change
        else:
            values[field] = change

    with pytest.raises(IntegrityError), transaction.atomic():
        Activity.objects.filter(pk=activity.pk).update(**values)


def test_clean_explains_each_inconsistent_date():
    start = timezone.now() + 24 * HOUR
    activity = Activity(
        name="Trip",
        starts_at=start,
        ends_at=start - HOUR,
        registration_opens_at=start + 2 * HOUR,
        registration_closes_at=start + HOUR,
    )

    with pytest.raises(ValidationError) as raised:
        activity.full_clean()

    assert raised.value.message_dict == {
        "ends_at": ["An activity ends after it starts."],
        "registration_closes_at": ["Registration closes before the activity starts."],
        "registration_opens_at": ["Registration opens before it closes."],
    }


def test_a_waiting_list_of_zero_and_a_free_activity_are_valid():
    activity = ActivityFactory(price_cents=0, waiting_list_limit=0, participant_limit=1)

    activity.full_clean()

    assert Activity.objects.get(pk=activity.pk).waiting_list_limit == 0
