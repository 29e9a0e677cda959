"""Races on PostgreSQL: two apps' requests for the same expiring token make one upstream refresh.

The first request takes the connection's refresh lease; the upstream is slow, so the second request
is certain to arrive while the first holds it. It waits for the first's result and refreshes nothing.
"""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.upstream.fields import unseal
from apps.upstream.models import Connection, ScopedToken
from tests.accounts.factories import UserFactory
from tests.api.tokens import issue_token
from tests.concurrency import race
from tests.conftest import ApiClient
from tests.upstream.factories import ConnectionFactory, RequirementFactory, UpstreamProviderFactory

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


@pytest.mark.parametrize(
    ("granted", "answer"),
    [(["calendar.read"], {}), (["openid", "calendar.read"], {"scope": "calendar.read"})],
    ids=["the-connections-token", "a-narrowed-token"],
)
def test_two_concurrent_requests_for_an_expiring_token_refresh_once(upstream, granted, answer):
    provider = UpstreamProviderFactory()
    member = UserFactory()
    requirement = RequirementFactory(provider=provider, scopes=["calendar.read"])
    connection = ConnectionFactory(
        user=member,
        provider=provider,
        scopes=granted,
        refresh="r-1",
        expires_at=timezone.now() + timedelta(seconds=10),
    )
    refreshes: list[str] = []

    def slow_refresh(request):
        refreshes.append(request.body)
        time.sleep(0.5)
        return (
            200,
            {},
            json.dumps({"access_token": "renewed", "token_type": "Bearer", "expires_in": 3600, **answer}),
        )

    upstream.add_callback("POST", provider.token_endpoint, callback=slow_refresh)
    apps = [
        ApiClient(issue_token("connections", user=member, application=requirement.application))
        for _ in range(2)
    ]

    results = race([lambda api=api: api.post(f"/connections/{provider.slug}/token", {}) for api in apps])

    assert [result.status_code for result in results] == [200, 200], results
    assert [result.json()["access_token"] for result in results] == ["renewed", "renewed"]
    assert len(refreshes) == 1
    connection = Connection.objects.get(pk=connection.pk)
    kept = connection if not answer else ScopedToken.objects.get(connection=connection)
    assert unseal(kept, "access_token") == "renewed"
    assert unseal(connection, "refresh_token") == "r-1"
