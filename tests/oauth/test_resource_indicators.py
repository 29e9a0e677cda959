"""RFC 8707 at the token endpoint: a code's resources bound its tokens; a request may narrow them."""

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, Grant
from apps.oauth.validators import token_checksum
from tests.accounts.factories import UserFactory
from tests.oauth import flow

pytestmark = pytest.mark.django_db

API = "https://api.example.org"
FILES = "https://files.example.org"


@pytest.fixture
def code(application):
    """A code whose authorization named two resources, as the authorization endpoint stores them."""
    browser = Client()
    browser.force_login(UserFactory())
    code, verifier = flow.get_code(browser, application, "member-read")
    Grant.objects.update(resource=[API, FILES])
    return code, verifier


def _token_resource(response) -> list[str]:
    assert response.status_code == 200, response.content
    return AccessToken.objects.get(token_checksum=token_checksum(response.json()["access_token"])).resource


def test_naming_no_resource_gives_all_of_the_codes(application, code):
    assert _token_resource(flow.redeem(Client(), application, *code)) == [API, FILES]


def test_naming_one_of_the_codes_resources_narrows_the_token(application, code):
    assert _token_resource(flow.redeem(Client(), application, *code, resource=FILES)) == [FILES]


def test_naming_another_resource_is_invalid_target_and_issues_nothing(application, code):
    response = flow.redeem(Client(), application, *code, resource="https://elsewhere.example.org")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    assert not AccessToken.objects.exists()


def test_a_resource_that_is_not_an_absolute_uri_is_invalid_target(application, code):
    response = flow.redeem(Client(), application, *code, resource="not-a-uri")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_a_code_without_resources_takes_the_requested_one(application):
    browser = Client()
    browser.force_login(UserFactory())
    code, verifier = flow.get_code(browser, application, "member-read")

    assert _token_resource(flow.redeem(Client(), application, code, verifier, resource=API)) == [API]
