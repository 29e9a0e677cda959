"""One DPoP proof sent twice at the same moment: the replay cache lets exactly one through."""

import pytest
from django.test import Client

from apps.oauth.models import AccessToken
from tests.concurrency import race
from tests.dpop.proofs import ProofKey
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


def test_one_proof_sent_twice_at_once_gets_one_token():
    application = service_application()
    proof = ProofKey().proof()

    def request():
        return flow.client_credentials(Client(HTTP_DPOP=proof), application, scope="member-read").status_code

    assert sorted(race([request, request])) == [200, 400]
    assert AccessToken.objects.count() == 1
