"""The suite's guard for row locks (tests/locking.py) sees what production sees."""

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError

from apps.oauth import lookups
from apps.oauth.models import AccessToken

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]


def test_the_tests_own_transaction_is_marked_as_djangos_testcase_marks_it():
    assert connection.atomic_blocks
    assert all(block._from_testcase for block in connection.atomic_blocks)


def test_a_lock_outside_a_transaction_of_the_codes_own_fails_as_it_would_in_production():
    with pytest.raises(TransactionManagementError, match="outside a transaction of the code's own"):
        list(AccessToken.objects.select_for_update())
    with pytest.raises(TransactionManagementError, match="outside a transaction of the code's own"):
        lookups.live_refresh_token_for_update.first("no such checksum")


def test_a_lock_inside_the_codes_own_transaction_is_taken():
    with transaction.atomic():
        assert not connection.atomic_blocks[-1]._from_testcase
        assert list(AccessToken.objects.select_for_update()) == []
        assert lookups.live_refresh_token_for_update.first("no such checksum") is None
