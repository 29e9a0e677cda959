import os

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    """Concurrency tests need PostgreSQL: skipped on SQLite, failed there when CI requires PostgreSQL."""
    for item in items:
        if "concurrency" in item.keywords:
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        if os.environ.get("LATCH_REQUIRE_POSTGRES"):
            pytest.fail(f"LATCH_REQUIRE_POSTGRES is set but the tests run on {connection.vendor}")
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
