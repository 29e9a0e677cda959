import uuid

import pytest

from apps.members.models import Member
from tests.api.contract import assert_scope_guarded
from tests.members.factories import MemberFactory, member_with_login

pytestmark = pytest.mark.django_db

PRIVATE_FIELDS = {"birth_date", "phone", "address", "street", "postal_code", "city"}


@pytest.fixture
def ada():
    return member_with_login(first_name="Ada", last_name="Lovelace", email="ada@example.org")


def test_members_me_returns_the_members_whole_record(ada, api_as_member):
    response = api_as_member(ada, "member-read").get("/members/me")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": str(ada.public_id),
        "sub": str(ada.user.public_id),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.org",
        "member_since": ada.member_since.isoformat(),
        "status": "active",
        "birth_date": "2001-04-01",
        "phone": "+31 6 1234 5678",
        "address": {"street": "Kerkstraat 1", "postal_code": "1234 AB", "city": "Utrecht"},
    }


def test_members_me_is_guarded_by_member_read(ada):
    assert_scope_guarded("GET", "/members/me", "member-read", user=ada.user)


def test_members_me_needs_a_members_token(api_as_app):
    response = api_as_app("member-read").get("/members/me")

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_user_authentication"
    assert 'error="insufficient_user_authentication"' in response["WWW-Authenticate"]


def test_members_me_for_a_login_without_member_record_is_404(api_as_member):
    login_only = member_with_login()
    Member.objects.filter(pk=login_only.pk).update(user=None)

    assert api_as_member(login_only, "member-read").get("/members/me").status_code == 404


def test_app_token_sees_the_directory_without_private_fields(ada, api_as_app):
    MemberFactory.create_batch(3)

    response = api_as_app("member-read").get("/members")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    for record in body["results"]:
        assert set(record) == {"id", "first_name", "last_name", "email", "member_since", "status"}
        assert not PRIVATE_FIELDS & set(record)


def test_user_token_sees_others_through_the_same_directory_view(ada, api_as_member):
    other = MemberFactory()

    response = api_as_member(ada, "member-read").get(f"/members/{other.public_id}")

    assert response.status_code == 200
    assert set(response.json()) == {"id", "first_name", "last_name", "email", "member_since", "status"}


def test_directory_filters_by_status_and_searches_names(api_as_app):
    MemberFactory(first_name="Grace", last_name="Hopper")
    MemberFactory(first_name="Alan", last_name="Turing", status=Member.Status.ALUMNUS)
    api = api_as_app("member-read")

    assert [m["last_name"] for m in api.get("/members", {"status": "alumnus"}).json()["results"]] == [
        "Turing"
    ]
    assert [m["last_name"] for m in api.get("/members", {"search": "grace"}).json()["results"]] == ["Hopper"]
    assert api.get("/members", {"status": "nonsense"}).status_code == 400


def test_directory_and_detail_are_guarded_by_member_read():
    member = MemberFactory()
    assert_scope_guarded("GET", "/members", "member-read")
    assert_scope_guarded("GET", f"/members/{member.public_id}", "member-read")


def test_unknown_member_is_404_in_the_apis_error_shape(api_as_app):
    response = api_as_app("member-read").get(f"/members/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "error_description": "Not found."}


def test_directory_is_paginated(api_as_app):
    MemberFactory.create_batch(5)

    body = api_as_app("member-read").get("/members", {"page_size": 2}).json()

    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"]
