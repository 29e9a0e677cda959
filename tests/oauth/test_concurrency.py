"""Races on PostgreSQL: two requests spending the same code or refresh token at the same moment.

The validator locks the row it spends; a sleep inside token issuance holds that lock long enough
that the second request is certain to arrive while the first is still working. Without the lock,
both would pass validation and two token sets would be minted.
"""

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, RefreshToken
from tests.accounts.factories import UserFactory
from tests.concurrency import race
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


def outcome(responses) -> list:
    return sorted((response.status_code, response.json().get("error")) for response in responses)


@pytest.fixture
def member_session():
    browser = Client()
    browser.force_login(UserFactory())
    return browser


def test_concurrent_redemptions_of_one_code_mint_exactly_one_token(
    member_session, slow_issuance, minted_access_tokens
):
    application = ApplicationFactory()
    code, verifier = flow.get_code(member_session, application, "member-read offline_access")

    responses = race([lambda: flow.redeem(Client(), application, code, verifier)] * 2)

    assert outcome(responses) == [(200, None), (400, "invalid_grant")]
    assert len(minted_access_tokens) == 1
    assert RefreshToken.objects.count() == 1
    # The loser looked exactly like a replayed code, so what the code gave is revoked (RFC 6749 §4.1.2).
    assert not AccessToken.objects.exists()


def test_concurrent_refreshes_with_one_token_mint_exactly_one_pair(
    member_session, slow_issuance, minted_access_tokens
):
    application = ApplicationFactory()
    code, verifier = flow.get_code(member_session, application, "member-read offline_access")
    first = flow.redeem(Client(), application, code, verifier).json()
    minted_access_tokens.clear()

    responses = race([lambda: flow.refresh(Client(), application, first["refresh_token"])] * 2)

    assert outcome(responses) == [(200, None), (400, "invalid_grant")]
    assert len(minted_access_tokens) == 1
    assert RefreshToken.objects.count() == 2
    # A second use of a rotated refresh token is a replay: the family is revoked (RFC 9700 §4.14.2).
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
