import datetime

import pytest
from django.utils import timezone

from apps.groups import services
from apps.groups.models import Group
from apps.members.models import Member
from tests.api.contract import assert_scope_guarded
from tests.groups.factories import GroupFactory, GroupMembershipFactory
from tests.members.factories import MemberFactory, member_with_login

pytestmark = pytest.mark.django_db

MEMBER_FIELDS = {"id", "first_name", "last_name", "role", "since"}


@pytest.fixture
def ada():
    return member_with_login(first_name="Ada", last_name="Lovelace", email="ada@example.org")


@pytest.fixture
def grace():
    return MemberFactory(first_name="Grace", last_name="Hopper", email="grace@example.org")


@pytest.fixture
def board(ada, grace):
    board = GroupFactory(name="Board", kind=Group.Kind.BOARD, description="Runs the association.")
    GroupMembershipFactory(group=board, member=ada, role="chair", started=datetime.date(2025, 9, 1))
    GroupMembershipFactory(group=board, member=grace, role="treasurer", started=datetime.date(2025, 9, 2))
    # Alan left the board: his membership is history, not a current one.
    alan = MemberFactory(first_name="Alan", last_name="Turing")
    GroupMembershipFactory(
        group=board,
        member=alan,
        role="secretary",
        started=datetime.date(2024, 9, 1),
        ended=datetime.date(2025, 8, 31),
    )
    return board


# --- GET /groups -------------------------------------------------------------------------------


def test_group_list_gives_each_group_with_its_current_member_count(board, ada, api_as_app):
    chess = GroupFactory(name="Chess Society", kind=Group.Kind.SOCIETY, description="")
    GroupMembershipFactory(group=chess, member=ada)

    response = api_as_app("group-read").get("/groups")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": board.pk,
                "name": "Board",
                "kind": "board",
                "description": "Runs the association.",
                "member_count": 2,
            },
            {
                "id": chess.pk,
                "name": "Chess Society",
                "kind": "society",
                "description": "",
                "member_count": 1,
            },
        ],
    }


def test_group_list_counts_no_one_in_a_group_whose_memberships_all_ended(api_as_app):
    group = GroupFactory(name="Lustrum Committee")
    GroupMembershipFactory(group=group, started=datetime.date(2020, 1, 1), ended=datetime.date(2021, 1, 1))

    results = api_as_app("group-read").get("/groups").json()["results"]

    assert [(g["name"], g["member_count"]) for g in results] == [("Lustrum Committee", 0)]


def test_group_list_filters_by_kind(board, api_as_app):
    GroupFactory(name="Audit Committee", kind=Group.Kind.COMMITTEE)
    GroupFactory(name="Class of 2024", kind=Group.Kind.YEAR)
    api = api_as_app("group-read")

    assert [g["name"] for g in api.get("/groups", {"kind": "committee"}).json()["results"]] == [
        "Audit Committee"
    ]
    assert [g["name"] for g in api.get("/groups", {"kind": "board"}).json()["results"]] == ["Board"]
    assert api.get("/groups", {"kind": "society"}).json()["results"] == []


def test_group_list_refuses_an_unknown_kind_with_400(board, api_as_app):
    response = api_as_app("group-read").get("/groups", {"kind": "guild"})

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The request is not valid.",
        "fields": {"kind": ["Select a valid choice. guild is not one of the available choices."]},
    }


def test_group_list_searches_names(board, api_as_app):
    GroupFactory(name="Chess Society")
    GroupFactory(name="Audit Committee")
    api = api_as_app("group-read")

    assert [g["name"] for g in api.get("/groups", {"search": "CHESS"}).json()["results"]] == ["Chess Society"]
    assert api.get("/groups", {"search": "nothing like it"}).json()["results"] == []


def test_group_list_orders_by_member_count_on_request(board, api_as_app):
    GroupFactory(name="Audit Committee")

    results = api_as_app("group-read").get("/groups", {"ordering": "-member_count"}).json()["results"]

    assert [(g["name"], g["member_count"]) for g in results] == [("Board", 2), ("Audit Committee", 0)]


def test_group_list_is_paginated(api_as_app):
    GroupFactory.create_batch(5)

    body = api_as_app("group-read").get("/groups", {"page_size": 2}).json()

    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] is not None


def test_group_list_answers_a_page_past_the_end_with_404_not_500(board, api_as_app):
    response = api_as_app("group-read").get("/groups", {"page": 99})

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_group_list_is_guarded_by_group_read():
    assert_scope_guarded("GET", "/groups", "group-read")


# --- GET /groups/{id} --------------------------------------------------------------------------


def test_group_detail_gives_the_group_and_its_current_members_with_their_roles(board, ada, grace, api_as_app):
    response = api_as_app("group-read").get(f"/groups/{board.pk}")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": board.pk,
        "name": "Board",
        "kind": "board",
        "description": "Runs the association.",
        "member_count": 2,
        "members": [
            {
                "id": str(grace.public_id),
                "first_name": "Grace",
                "last_name": "Hopper",
                "role": "treasurer",
                "since": "2025-09-02",
            },
            {
                "id": str(ada.public_id),
                "first_name": "Ada",
                "last_name": "Lovelace",
                "role": "chair",
                "since": "2025-09-01",
            },
        ],
    }


def test_group_detail_never_shows_an_app_token_email_or_private_fields(board, ada, api_as_app):
    response = api_as_app("group-read member-read").get(f"/groups/{board.pk}")

    assert response.status_code == 200
    for member in response.json()["members"]:
        assert set(member) == MEMBER_FIELDS
    content = response.content.decode()
    for private in (ada.email, ada.phone, ada.street, ada.postal_code, ada.city, "2001-04-01"):
        assert private not in content


def test_group_detail_is_the_same_for_a_members_token(board, ada, api_as_app, api_as_member):
    as_member = api_as_member(ada, "group-read member-read").get(f"/groups/{board.pk}")
    as_app = api_as_app("group-read").get(f"/groups/{board.pk}")

    assert as_member.status_code == 200
    assert as_member.json() == as_app.json()


def test_group_detail_shows_only_the_new_role_after_a_role_change(board, grace, api_as_app):
    services.change_role(grace.group_memberships.get(group=board, ended__isnull=True), "chair")

    members = api_as_app("group-read").get(f"/groups/{board.pk}").json()["members"]

    today = timezone.localdate().isoformat()
    assert [(m["last_name"], m["role"], m["since"]) for m in members] == [
        ("Hopper", "chair", today),
        ("Lovelace", "chair", "2025-09-01"),
    ]


def test_group_detail_leaves_out_a_membership_that_ended_today(board, grace, api_as_app):
    services.end_membership(grace.group_memberships.get(group=board))

    body = api_as_app("group-read").get(f"/groups/{board.pk}").json()

    assert body["member_count"] == 1
    assert [m["last_name"] for m in body["members"]] == ["Lovelace"]


def test_group_detail_of_an_empty_group_has_no_members(api_as_app):
    group = GroupFactory(name="Audit Committee", kind=Group.Kind.COMMITTEE)

    body = api_as_app("group-read").get(f"/groups/{group.pk}").json()

    assert body == {
        "id": group.pk,
        "name": "Audit Committee",
        "kind": "committee",
        "description": "",
        "member_count": 0,
        "members": [],
    }


def test_unknown_group_is_404(board, api_as_app):
    response = api_as_app("group-read").get(f"/groups/{board.pk + 1000}")

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "error_description": "There is no group with this id."}


def test_group_id_that_is_not_a_number_is_404_not_500(api_as_app):
    assert api_as_app("group-read").get("/groups/board").status_code == 404


def test_group_detail_is_guarded_by_group_read(board):
    assert_scope_guarded("GET", f"/groups/{board.pk}", "group-read")


# --- GET /members/me/groups --------------------------------------------------------------------


@pytest.fixture
def adas_history(board, ada):
    """Ada chairs the board and plays chess now; she was on the Audit Committee until last year."""
    chess = GroupFactory(name="Chess Society", kind=Group.Kind.SOCIETY)
    GroupMembershipFactory(group=chess, member=ada, started=datetime.date(2024, 10, 3))
    audit = GroupFactory(name="Audit Committee", kind=Group.Kind.COMMITTEE)
    GroupMembershipFactory(
        group=audit, member=ada, started=datetime.date(2023, 1, 15), ended=datetime.date(2025, 1, 14)
    )
    # Someone else's membership never shows up in Ada's list.
    GroupMembershipFactory(group=audit)
    return {"board": board, "chess": chess, "audit": audit}


def test_own_groups_lists_the_members_current_groups_with_role_and_since(adas_history, ada, api_as_member):
    response = api_as_member(ada, "group-read").get("/members/me/groups")

    assert response.status_code == 200, response.content
    assert response.json() == [
        {
            "id": adas_history["board"].pk,
            "name": "Board",
            "kind": "board",
            "role": "chair",
            "since": "2025-09-01",
            "ended": None,
        },
        {
            "id": adas_history["chess"].pk,
            "name": "Chess Society",
            "kind": "society",
            "role": "member",
            "since": "2024-10-03",
            "ended": None,
        },
    ]


def test_own_groups_with_include_past_adds_ended_memberships(adas_history, ada, api_as_member):
    response = api_as_member(ada, "group-read").get("/members/me/groups", {"include_past": "true"})

    assert response.status_code == 200, response.content
    assert response.json() == [
        {
            "id": adas_history["audit"].pk,
            "name": "Audit Committee",
            "kind": "committee",
            "role": "member",
            "since": "2023-01-15",
            "ended": "2025-01-14",
        },
        {
            "id": adas_history["board"].pk,
            "name": "Board",
            "kind": "board",
            "role": "chair",
            "since": "2025-09-01",
            "ended": None,
        },
        {
            "id": adas_history["chess"].pk,
            "name": "Chess Society",
            "kind": "society",
            "role": "member",
            "since": "2024-10-03",
            "ended": None,
        },
    ]


def test_own_groups_with_include_past_shows_the_role_history_newest_first(board, ada, api_as_member):
    services.change_role(ada.group_memberships.get(group=board), "secretary")

    body = api_as_member(ada, "group-read").get("/members/me/groups", {"include_past": "true"}).json()

    today = timezone.localdate().isoformat()
    assert [(g["role"], g["since"], g["ended"]) for g in body] == [
        ("secretary", today, None),
        ("chair", "2025-09-01", today),
    ]


def test_own_groups_with_include_past_false_is_the_current_groups(adas_history, ada, api_as_member):
    api = api_as_member(ada, "group-read")

    assert api.get("/members/me/groups", {"include_past": "false"}).json() == (
        api.get("/members/me/groups").json()
    )


@pytest.mark.parametrize("value", ["maybe", "yes please", "2"])
def test_own_groups_refuses_an_include_past_that_is_not_a_boolean(adas_history, ada, api_as_member, value):
    response = api_as_member(ada, "group-read").get("/members/me/groups", {"include_past": value})

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The request is not valid.",
        "fields": {"include_past": ["Must be a valid boolean."]},
    }


def test_own_groups_of_a_member_in_no_group_is_an_empty_list(board, api_as_member):
    loner = member_with_login()

    response = api_as_member(loner, "group-read").get("/members/me/groups")

    assert response.status_code == 200
    assert response.json() == []


def test_own_groups_needs_a_members_token(api_as_app):
    response = api_as_app("group-read").get("/members/me/groups")

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_user_authentication"
    assert 'error="insufficient_user_authentication"' in response["WWW-Authenticate"]


def test_own_groups_for_a_login_without_member_record_is_404(api_as_member):
    login_only = member_with_login()
    Member.objects.filter(pk=login_only.pk).update(user=None)

    response = api_as_member(login_only, "group-read").get("/members/me/groups")

    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "error_description": "This account has no member record.",
    }


def test_own_groups_is_guarded_by_group_read(ada):
    assert_scope_guarded("GET", "/members/me/groups", "group-read", user=ada.user)
