import datetime

import pytest
from django.utils import timezone

from apps.groups.models import Group, GroupMembership
from tests.groups.factories import GroupFactory, GroupMembershipFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

SEPT_1 = datetime.date(2025, 9, 1)


@pytest.fixture
def board():
    board = GroupFactory(name="Board", kind=Group.Kind.BOARD)
    GroupMembershipFactory(
        group=board,
        member=MemberFactory(first_name="Ada", last_name="Lovelace"),
        role="chair",
        started=SEPT_1,
    )
    GroupMembershipFactory(
        group=board,
        member=MemberFactory(first_name="Alan", last_name="Turing"),
        role="secretary",
        started=datetime.date(2024, 9, 1),
        ended=datetime.date(2025, 8, 31),
    )
    return board


def history(group) -> list[tuple[str, str, datetime.date, datetime.date | None]]:
    memberships = group.memberships.order_by("member__last_name", "started", "pk")
    return [(m.member.last_name, m.role, m.started, m.ended) for m in memberships]


def inline_form(group, rows: list[dict], initial: int) -> dict:
    data = {
        "name": group.name,
        "kind": group.kind,
        "description": group.description,
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(initial),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"memberships-{index}-{key}": value for key, value in row.items()})
    return data


def existing_rows(group) -> list[dict]:
    return [
        {"id": m.pk, "group": group.pk, "role": m.role, "ended": m.ended.isoformat() if m.ended else ""}
        for m in group.memberships.order_by("member__last_name")
    ]


def test_group_list_filters_on_kind_and_searches(admin_browser, board):
    chess = GroupFactory(name="Chess Society", kind=Group.Kind.SOCIETY)
    board_link, chess_link = (f"/admin/groups/group/{g.pk}/change/" for g in (board, chess))

    page = admin_browser.get("/admin/groups/group/", {"kind__exact": "board"}).content.decode()
    assert board_link in page
    assert chess_link not in page
    page = admin_browser.get("/admin/groups/group/", {"q": "chess"}).content.decode()
    assert chess_link in page
    assert board_link not in page


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"current": "yes"}, "Lovelace", "Turing"),
        ({"current": "no"}, "Turing", "Lovelace"),
        ({"q": "turing"}, "Turing", "Lovelace"),
        ({"group__kind": "society"}, "Hopper", "Lovelace"),
    ],
)
def test_membership_list_filters_current_or_ended_kind_and_searches_names(
    admin_browser, board, query, shown, hidden
):
    GroupMembershipFactory(
        group=GroupFactory(kind=Group.Kind.SOCIETY),
        member=MemberFactory(first_name="Grace", last_name="Hopper"),
    )

    response = admin_browser.get("/admin/groups/groupmembership/", query)

    assert response.status_code == 200
    page = response.content.decode()
    assert shown in page
    assert hidden not in page


def test_membership_list_filters_on_group(admin_browser, board):
    GroupMembershipFactory(member=MemberFactory(first_name="Grace", last_name="Hopper"))

    page = admin_browser.get(
        "/admin/groups/groupmembership/", {"group__id__exact": board.pk}
    ).content.decode()

    assert "Lovelace" in page
    assert "Hopper" not in page


def test_editing_a_role_in_the_membership_admin_keeps_the_old_role_in_the_history(admin_browser, board):
    chair = board.memberships.get(role="chair")
    today = timezone.localdate()

    response = admin_browser.post(
        f"/admin/groups/groupmembership/{chair.pk}/change/",
        {
            "member": chair.member_id,
            "group": board.pk,
            "role": "treasurer",
            "started": "2025-09-01",
            "ended": "",
        },
    )

    assert response.status_code == 302, response.content.decode()
    assert history(board) == [
        ("Lovelace", "chair", SEPT_1, today),
        ("Lovelace", "treasurer", today, None),
        ("Turing", "secretary", datetime.date(2024, 9, 1), datetime.date(2025, 8, 31)),
    ]


def test_editing_a_role_in_the_group_inline_keeps_the_old_role_in_the_history(admin_browser, board):
    rows = existing_rows(board)
    assert rows[0]["role"] == "chair"  # Lovelace
    rows[0]["role"] = "treasurer"
    today = timezone.localdate()

    response = admin_browser.post(f"/admin/groups/group/{board.pk}/change/", inline_form(board, rows, 2))

    assert response.status_code == 302, response.content.decode()
    assert history(board) == [
        ("Lovelace", "chair", SEPT_1, today),
        ("Lovelace", "treasurer", today, None),
        ("Turing", "secretary", datetime.date(2024, 9, 1), datetime.date(2025, 8, 31)),
    ]


def test_changing_a_role_and_ending_at_once_is_refused(admin_browser, board):
    chair = board.memberships.get(role="chair")

    response = admin_browser.post(
        f"/admin/groups/groupmembership/{chair.pk}/change/",
        {"role": "treasurer", "ended": "2025-10-01"},
    )

    assert response.status_code == 200
    assert "Change the role or end the membership, not both at once." in response.content.decode()
    assert history(board)[0] == ("Lovelace", "chair", SEPT_1, None)


def test_two_new_current_rows_for_one_member_are_refused_and_nothing_is_saved(admin_browser, board):
    grace = MemberFactory(first_name="Grace", last_name="Hopper")
    new = {"group": board.pk, "member": grace.pk, "started": "2025-09-01", "ended": ""}
    rows = [*existing_rows(board), {**new, "role": "member"}, {**new, "role": "chair"}]

    response = admin_browser.post(f"/admin/groups/group/{board.pk}/change/", inline_form(board, rows, 2))

    assert response.status_code == 200
    assert "Grace Hopper has more than one current membership." in response.content.decode()
    assert not GroupMembership.objects.filter(member=grace).exists()


def test_adding_a_second_current_membership_in_the_admin_is_a_form_error(admin_browser, board):
    chair = board.memberships.get(role="chair")

    response = admin_browser.post(
        "/admin/groups/groupmembership/add/",
        {
            "member": chair.member_id,
            "group": board.pk,
            "role": "member",
            "started": "2025-10-01",
            "ended": "",
        },
    )

    assert response.status_code == 200
    assert "This member already has a current membership of this group." in response.content.decode()
    assert board.memberships.filter(member=chair.member).count() == 1


def test_the_end_today_action_ends_the_selected_current_memberships(admin_browser, board):
    today = timezone.localdate()

    response = admin_browser.post(
        "/admin/groups/groupmembership/",
        {"action": "end_today", "_selected_action": [m.pk for m in board.memberships.all()]},
    )

    assert response.status_code == 302
    assert history(board) == [
        ("Lovelace", "chair", SEPT_1, today),
        ("Turing", "secretary", datetime.date(2024, 9, 1), datetime.date(2025, 8, 31)),
    ]


def test_group_page_shows_its_memberships_current_ones_first(admin_browser, board):
    response = admin_browser.get(f"/admin/groups/group/{board.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="memberships-TOTAL_FORMS" value="2"' in page
    assert page.index("Lovelace") < page.index("Turing")
