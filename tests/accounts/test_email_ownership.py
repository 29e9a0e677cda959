"""`email_verified`: the member showed they read that mailbox; only Latch's records change the address.

The membership record is the association's: a member cannot add or swap addresses themselves, and
an address changed by any path (admin, shell, a queryset update) is unverified until a mail to it
is answered (completing a password reset by its link).
"""

import base64
import json
import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from apps.accounts.models import User
from tests.accounts.factories import UserFactory
from tests.accounts.mfa import staff_browser
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def email_claims(user) -> tuple[dict, dict]:
    """(id_token claims, userinfo claims) an app receives for `user` with `openid email`."""
    application = ApplicationFactory()
    code, verifier = flow.get_code(signed_in(user), application, "openid email")
    tokens = flow.redeem(Client(), application, code, verifier).json()
    payload = tokens["id_token"].split(".")[1]
    id_token = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    userinfo = Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
    return (
        {key: id_token[key] for key in ("email", "email_verified")},
        {key: userinfo[key] for key in ("email", "email_verified")},
    )


def admin_saves(member, *, email: str):
    """An administrator saves the member's change page with this address and "email verified" ticked."""
    admin = staff_browser(UserFactory(is_staff=True, is_superuser=True))
    form = {"email": email, "email_verified": "on", "first_name": "Ada", "last_name": "Lovelace"}
    return admin.post(f"/admin/accounts/user/{member.pk}/change/", {**form, "is_active": "on"})


# --- The member cannot change their own address ---------------------------------------------------


def test_member_cannot_make_unconfirmed_address_their_verified_email():
    member = UserFactory(email="mallory@example.org")
    browser = signed_in(member)

    added = browser.post("/accounts/email/", {"action_add": "", "email": "victim@example.org"})
    made_primary = browser.post("/accounts/email/", {"action_primary": "", "email": "victim@example.org"})

    assert (added.status_code, made_primary.status_code) == (404, 404)
    member.refresh_from_db()
    assert (member.email, member.email_verified) == ("mallory@example.org", True)
    assert not EmailAddress.objects.filter(email__iexact="victim@example.org").exists()
    expected = {"email": "mallory@example.org", "email_verified": True}
    assert email_claims(member) == (expected, expected)


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/email/",
        "/accounts/signup/",
        "/accounts/confirm-email/",
        "/accounts/confirm-email/some-key/",
        "/accounts/password/set/",
        "/accounts/login/code/confirm/",
        "/accounts/2fa/webauthn/signup/",
    ],
)
def test_allauth_pages_latch_does_not_use_are_not_there(path):
    browser = signed_in(UserFactory())

    assert browser.get(path).status_code == 404
    assert browser.post(path, {"email": "victim@example.org"}).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/login/",
        "/accounts/logout/",
        "/accounts/inactive/",
        "/accounts/password/reset/",
        "/accounts/password/reset/done/",
        "/accounts/password/reset/key/done/",
        "/accounts/password/change/",
        "/accounts/reauthenticate/",
        "/accounts/2fa/",
        "/accounts/2fa/totp/activate/",
        "/accounts/2fa/webauthn/",
        "/accounts/2fa/recovery-codes/generate/",
    ],
)
def test_allauth_pages_latch_uses_are_there(path):
    assert signed_in(UserFactory()).get(path).status_code != 404


def test_a_member_without_a_password_is_sent_to_the_reset_mail_not_a_set_password_page():
    member = UserFactory()
    member.set_unusable_password()
    member.save()

    response = signed_in(member).get("/accounts/password/change/")

    assert (response.status_code, response["Location"]) == (302, "/accounts/password/reset/")


# --- Any change of the address unverifies it ---------------------------------------------------


def test_a_changed_address_is_unverified_and_apps_are_told_so():
    member = UserFactory(email="ada@example.org")

    member.email = "ada@elsewhere.example"
    member.save()

    member.refresh_from_db()
    assert member.email_verified is False
    expected = {"email": "ada@elsewhere.example", "email_verified": False}
    assert email_claims(member) == (expected, expected)


def test_a_changed_address_cannot_be_saved_as_verified_in_the_same_breath():
    member = UserFactory(email="ada@example.org")

    member.email = "ada@elsewhere.example"
    member.email_verified = True
    member.save(update_fields=["email"])

    member.refresh_from_db()
    assert (member.email, member.email_verified) == ("ada@elsewhere.example", False)


def test_a_queryset_update_of_the_address_unverifies_it():
    member = UserFactory(email="ada@example.org")

    User.objects.filter(pk=member.pk).update(email="ada@elsewhere.example", email_verified=True)

    member.refresh_from_db()
    assert member.email_verified is False


def test_an_instance_loaded_without_its_address_still_unverifies_a_change():
    member = UserFactory(email="ada@example.org")

    partial = User.objects.only("pk").get(pk=member.pk)
    partial.email = "ada@elsewhere.example"
    partial.save()

    member.refresh_from_db()
    assert (member.email, member.email_verified) == ("ada@elsewhere.example", False)


def test_an_instance_built_over_an_existing_row_still_unverifies_a_change():
    member = UserFactory(email="ada@example.org")

    User(pk=member.pk, public_id=member.public_id, email="ada@elsewhere.example", email_verified=True).save()

    member.refresh_from_db()
    assert (member.email, member.email_verified) == ("ada@elsewhere.example", False)


def test_saving_other_fields_keeps_the_address_verified():
    member = UserFactory(email="ada@example.org")

    member.first_name = "Augusta"
    member.save()
    fresh = User.objects.get(pk=member.pk)
    fresh.last_name = "King"
    fresh.save()

    fresh.refresh_from_db()
    assert fresh.email_verified is True


def test_admin_changing_a_members_address_unverifies_it():
    member = UserFactory(email="ada@example.org", first_name="Ada", last_name="Lovelace")
    response = admin_saves(member, email="ada@elsewhere.example")

    assert response.status_code == 302, response.content
    member.refresh_from_db()
    assert (member.email, member.email_verified) == ("ada@elsewhere.example", False)


def test_admin_cannot_mark_an_address_verified():
    member = UserFactory(
        email="ada@example.org", first_name="Ada", last_name="Lovelace", email_verified=False
    )
    admin_saves(member, email="ada@example.org")

    member.refresh_from_db()
    assert member.email_verified is False


# --- allauth's address rows follow User.email ---------------------------------------------------


def test_allauth_keeps_no_address_row_beside_a_changed_address():
    member = UserFactory(email="ada@example.org")
    EmailAddress.objects.create(user=member, email="ada@example.org", primary=True, verified=True)
    EmailAddress.objects.create(user=member, email="old@example.org", primary=False, verified=True)

    member.email = "ada@elsewhere.example"
    member.save()

    assert not EmailAddress.objects.filter(user=member).exists()


def test_a_password_reset_by_mail_verifies_the_changed_address_and_its_row():
    member = UserFactory(email="ada@example.org")
    EmailAddress.objects.create(user=member, email="ada@example.org", primary=True, verified=True)
    member.email = "ada@elsewhere.example"
    member.save()
    assert list(EmailAddress.objects.values_list("email", "verified")) == []
    EmailAddress.objects.create(user=member, email="ada@elsewhere.example", primary=True, verified=False)
    browser = Client()

    browser.post("/accounts/password/reset/", {"email": "ada@elsewhere.example"})
    link = re.search(r"https://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)
    form_page = browser.get(link, follow=True)
    new_password = "a brand new passphrase 42"
    browser.post(form_page.redirect_chain[-1][0], {"password1": new_password, "password2": new_password})

    member.refresh_from_db()
    assert member.email_verified is True
    rows = list(EmailAddress.objects.filter(user=member).values_list("email", "primary", "verified"))
    assert rows == [("ada@elsewhere.example", True, True)]
