import os

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from tests.accounts.factories import UserFactory
from tests.accounts.mfa import staff_browser
from tests.api.tokens import bearer, issue_token
from tests.locking import refuse_locks_outside_own_transactions


def pytest_collection_modifyitems(config, items):
    """Concurrency tests need real transactions (and PostgreSQL, see `postgres_only`)."""
    for item in items:
        if "concurrency" in item.keywords:
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(autouse=True, scope="session")
def locks_only_in_transactions_of_their_own():
    """A row lock the test's own transaction would hide fails, as in production (tests/locking.py)."""
    with refuse_locks_outside_own_transactions():
        yield


@pytest.fixture(autouse=True)
def fresh_cache():
    """Rate-limit and throttling counters live in the cache: no test inherits another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        if os.environ.get("LATCH_REQUIRE_POSTGRES"):
            pytest.fail(f"LATCH_REQUIRE_POSTGRES is set but the tests run on {connection.vendor}")
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


class ApiClient:
    """Calls /api/v1 with a bearer token, as an app would."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client()
        self.headers = bearer(token) if token else {}

    def get(self, path: str, params: dict | None = None):
        return self.client.get(f"/api/v1{path}", params or {}, **self.headers)

    def post(self, path: str, body: dict | None = None, **headers):
        return self.client.post(
            f"/api/v1{path}", body or {}, content_type="application/json", **self.headers, **headers
        )

    def delete(self, path: str):
        return self.client.delete(f"/api/v1{path}", **self.headers)


@pytest.fixture
def api_as_member():
    """`api_as_member(member, "scope ...")`: an API client holding that member's token."""

    def make(member, scope: str) -> ApiClient:
        return ApiClient(issue_token(scope, user=member.user))

    return make


@pytest.fixture
def api_as_app():
    """`api_as_app("scope ...")`: an API client holding an app's own (client-credentials) token."""

    def make(scope: str) -> ApiClient:
        return ApiClient(issue_token(scope))

    return make


@pytest.fixture
def admin_user(db):
    """A superuser, for the admin's pages."""
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_browser(admin_user):
    """A browser signed in to the admin as `admin_user`, two-factor setup done."""
    return staff_browser(admin_user)
