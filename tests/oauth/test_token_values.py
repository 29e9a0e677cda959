"""Access and refresh tokens carry 256 random bits, base64url, and are never issued twice."""

import re

import pytest
from django.test import Client

from apps.oauth.tokens import random_token
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db

BASE64URL_256_BITS = re.compile(r"[A-Za-z0-9_-]{43}")


def test_the_generator_gives_256_bits_of_base64url():
    values = {random_token() for _ in range(1000)}

    assert len(values) == 1000
    assert all(BASE64URL_256_BITS.fullmatch(value) for value in values)


def test_client_credentials_tokens_come_from_it():
    kiosk = service_application()

    body = flow.client_credentials(Client(), kiosk, scope=kiosk.allowed_scopes[0]).json()

    assert BASE64URL_256_BITS.fullmatch(body["access_token"])


def test_both_tokens_of_a_sign_in_and_of_a_refresh_come_from_it(application):
    first = flow.obtain_tokens(UserFactory(), application)
    second = flow.refresh(Client(), application, first["refresh_token"]).json()

    tokens = [first["access_token"], first["refresh_token"], second["access_token"], second["refresh_token"]]
    assert all(BASE64URL_256_BITS.fullmatch(token) for token in tokens)
    assert len(set(tokens)) == 4
