"""One client assertion sent twice at the same moment: the replay cache lets exactly one through."""

import pytest
from django.test import Client

from apps.oauth.models import AccessToken
from tests.concurrency import race
from tests.oauth.assertions import assertion, assertion_body, pkjwt_application

pytestmark = [pytest.mark.concurrency, pytest.mark.usefixtures("postgres_only")]


def test_one_assertion_sent_twice_at_once_gets_one_token():
    application = pkjwt_application()
    body = {
        "grant_type": "client_credentials",
        "scope": "member-read",
        **assertion_body(assertion(application)),
    }

    def request():
        return Client().post("/oauth/token", body).status_code

    assert sorted(race([request, request, request])) == [200, 401, 401]
    assert AccessToken.objects.count() == 1
