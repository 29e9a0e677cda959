"""Races on PostgreSQL: an exchange while the member's token chain is being revoked.

The exchange locks its subject token until the new token is committed; a revocation locks the
family (or the member's tokens) before deleting, then deletes what is there by then. Whichever
comes first, no exchanged token outlives the revocation. A sleep inside token issuance holds the
exchange's lock long enough for the revocation to arrive while it is still working.
"""

import time

import pytest
from django.test import Client

from apps.oauth.models import AccessToken
from apps.oauth.services import revoke_member_tokens
from tests.concurrency import race
from tests.oauth.exchange import exchange, exchanging_service, member_token
from tests.oauth.factories import ApplicationFactory

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


def revoke_soon(member, application=None):
    def revoke():
        time.sleep(0.2)  # let the exchange lock its subject token first
        return revoke_member_tokens(member, application=application)

    return revoke


@pytest.mark.parametrize("whose", ["every app's (sign out everywhere)", "the front end's"])
# Without offline_access the subject has no refresh token, whose revocation (DOT's) would lock it.
@pytest.mark.parametrize("scope", ["member-read", "member-read offline_access"])
def test_an_exchange_racing_a_revocation_leaves_no_exchanged_token(member, slow_issuance, whose, scope):
    frontend = ApplicationFactory()
    service = exchanging_service(subject_clients=[frontend])
    subject = member_token(member, frontend, scope)
    application = frontend if whose == "the front end's" else None

    exchanged, _revoked = race(
        [lambda: exchange(service, subject["access_token"]), revoke_soon(member, application)]
    )

    assert exchanged.status_code in (200, 400), exchanged.content
    assert not AccessToken.objects.filter(user=member).exists()
    if exchanged.status_code == 200:
        token = exchanged.json()["access_token"]
        assert Client().get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
