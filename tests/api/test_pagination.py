"""`page` and `page_size` are read strictly: a bad one is invalid_request, not a guess or a 500."""

import pytest

from tests.core.test_numbers import NOT_NUMBERS
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["page", "page_size"])
@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_a_page_parameter_that_is_not_plain_digits_is_invalid_request(api_as_app, name, text):
    MemberFactory.create_batch(3)

    response = api_as_app("member-read").get("/members", {name: text})

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid_request"
    assert name in body["fields"]


def test_page_size_zero_is_invalid_request(api_as_app):
    response = api_as_app("member-read").get("/members", {"page_size": "0"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_page_zero_is_not_found(api_as_app):
    response = api_as_app("member-read").get("/members", {"page": "0"})

    assert response.status_code == 404


def test_plain_digits_page_through_the_directory(api_as_app):
    MemberFactory.create_batch(5)
    api = api_as_app("member-read")

    first = api.get("/members", {"page_size": "2"}).json()
    last = api.get("/members", {"page_size": "2", "page": "3"}).json()

    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert len(last["results"]) == 1
    assert last["next"] is None


def test_page_size_beyond_the_maximum_is_the_maximum(api_as_app):
    MemberFactory.create_batch(3)

    body = api_as_app("member-read").get("/members", {"page_size": "9999999999"}).json()

    assert len(body["results"]) == 3


def test_the_last_page_can_be_named(api_as_app):
    MemberFactory.create_batch(5)

    body = api_as_app("member-read").get("/members", {"page_size": "2", "page": "last"}).json()

    assert len(body["results"]) == 1
