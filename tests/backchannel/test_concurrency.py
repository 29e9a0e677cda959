"""Races on PostgreSQL: several drainers at once send each logout token exactly once.

The receiver answers slowly, so each drainer holds the row it claimed while the others look for
work: without SKIP LOCKED claiming, two drainers would pick the same row and send it twice.
"""

from collections import Counter

import pytest

from apps.backchannel.delivery import deliver_due
from apps.backchannel.models import LogoutDelivery
from tests.backchannel.receiver import verify_logout_token
from tests.concurrency import race

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


def test_concurrent_drainers_deliver_each_token_once(member, rp, receiver):
    receiver.delay = 0.2
    application = rp()
    for index in range(8):
        LogoutDelivery.objects.create(
            application=application,
            user=member,
            sub=str(member.public_id),
            sid=f"session-{index}",
            reason=LogoutDelivery.Reason.SESSION_ENDED,
        )

    results = race([deliver_due] * 3)

    assert not [result for result in results if isinstance(result, Exception)], results
    assert sum(result.delivered for result in results) == 8
    assert sum(1 for result in results if result.delivered) >= 2  # the work really was shared
    received = Counter(verify_logout_token(token, application)["sid"] for token in receiver.tokens())
    assert received == {f"session-{index}": 1 for index in range(8)}
    assert set(LogoutDelivery.objects.values_list("status", "attempts")) == {
        (LogoutDelivery.Status.DELIVERED, 1)
    }
