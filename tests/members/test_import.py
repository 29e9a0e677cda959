import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.accounts.models import User
from apps.members.models import Member
from tests.accounts.factories import UserFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

HEADER = "email,first_name,last_name,birth_date,phone,street,postal_code,city,member_since,status\n"


def import_file(tmp_path, text: str, *args: str) -> str:
    path = tmp_path / "members.csv"
    path.write_text(text, encoding="utf-8")
    out = StringIO()
    call_command("import_members", str(path), *args, "--base-url", "https://latch.example.org", stdout=out)
    return out.getvalue()


def test_import_creates_members_with_every_column(tmp_path):
    output = import_file(
        tmp_path,
        HEADER
        + "Ada@Example.org,Ada,Lovelace,1815-12-10,+44 20,St James's Sq 12,SW1Y,London,2020-09-01,alumnus\n"
        + "grace@example.org,Grace,Hopper,,,,,,,\n",
    )

    assert "Created 2, updated 0" in output
    ada = Member.objects.get(email="ada@example.org")
    assert (ada.first_name, ada.city, ada.status, str(ada.birth_date), str(ada.member_since)) == (
        "Ada",
        "London",
        "alumnus",
        "1815-12-10",
        "2020-09-01",
    )
    grace = Member.objects.get(email="grace@example.org")
    assert grace.status == Member.Status.ACTIVE
    assert grace.user is None


def test_import_updates_by_email_and_keeps_what_empty_cells_leave_out(tmp_path):
    MemberFactory(email="ada@example.org", first_name="A.", city="Utrecht", phone="+31 1")

    output = import_file(
        tmp_path, "email,first_name,last_name,city,phone\nADA@example.org,Ada,Lovelace,London,\n"
    )

    assert "Created 0, updated 1" in output
    ada = Member.objects.get()
    assert (ada.first_name, ada.city, ada.phone) == ("Ada", "London", "+31 1")


def test_a_bad_row_is_reported_with_its_line_and_nothing_is_imported(tmp_path):
    text = HEADER + "ok@example.org,Ok,Person,,,,,,,\nbad-email,No,Good,1999-99-99,,,,,,retired\n"

    with pytest.raises(CommandError) as failure:
        import_file(tmp_path, text)

    message = str(failure.value)
    assert "line 3:" in message
    assert "email" in message
    assert "birth_date" in message
    assert "status" in message
    assert not Member.objects.exists()


def test_skip_bad_imports_the_good_rows_and_lists_the_bad(tmp_path):
    text = HEADER + "ok@example.org,Ok,Person,,,,,,,\n,No,Email,,,,,,,\n"

    output = import_file(tmp_path, text, "--skip-bad")

    assert "Created 1" in output
    assert "Skipped line 3: email" in output
    assert list(Member.objects.values_list("email", flat=True)) == ["ok@example.org"]


def test_the_same_email_twice_in_one_file_is_a_bad_row(tmp_path):
    text = "email,first_name,last_name\na@example.org,A,One\nA@example.org,A,Two\n"

    with pytest.raises(CommandError, match=re.escape("line 3: email a@example.org is also on line 2")):
        import_file(tmp_path, text)
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("email,first_name\n", "missing column"),
        ("email,first_name,last_name,shoe_size\n", "unknown column"),
    ],
)
def test_wrong_columns_are_refused(tmp_path, header, message):
    with pytest.raises(CommandError, match=message):
        import_file(tmp_path, header + "a@example.org,A,B,44\n")
    assert not Member.objects.exists()


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(HEADER.encode() + "j\xe9r\xf4me@example.org,J,R,,,,,,,\n".encode("latin-1"))

    with pytest.raises(CommandError, match="not a UTF-8 CSV"):
        call_command("import_members", str(path), stdout=StringIO())


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_members", str(tmp_path / "nope.csv"), stdout=StringIO())


def test_create_logins_prints_a_link_that_lets_the_member_set_a_password(tmp_path):
    output = import_file(
        tmp_path, "email,first_name,last_name\nada@example.org,Ada,Lovelace\n", "--create-logins"
    )

    ada = Member.objects.get()
    assert ada.user is not None
    assert not ada.user.has_usable_password()
    # Unverified until the member follows the mailed link (apps/accounts/signals.py).
    assert ada.user.email_verified is False
    link = re.search(r"https://latch\.example\.org(/accounts/password/reset/key/\S+)", output).group(1)
    browser = Client()
    form = browser.get(link, follow=True)
    browser.post(
        form.redirect_chain[-1][0],
        {"password1": "a fine new passphrase", "password2": "a fine new passphrase"},
    )
    ada.user.refresh_from_db()
    assert ada.user.check_password("a fine new passphrase")
    assert ada.user.email_verified is True


def test_create_logins_links_an_existing_login_instead_of_making_another(tmp_path):
    user = UserFactory(email="ada@example.org")

    output = import_file(
        tmp_path, "email,first_name,last_name\nada@example.org,Ada,Lovelace\n", "--create-logins"
    )

    assert Member.objects.get().user == user
    assert User.objects.count() == 1
    assert "One-time links" not in output
