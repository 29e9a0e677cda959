import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db import IntegrityError
from django.test import Client

from apps.accounts.models import User
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_user_model_is_latch_user_with_email_login():
    assert get_user_model() is User
    assert User.USERNAME_FIELD == "email"


def test_public_id_is_random_stable_and_not_the_database_key():
    user = UserFactory()
    public_id = user.public_id

    user.refresh_from_db()
    user.first_name = "Changed"
    user.save()

    assert user.public_id == public_id
    assert str(user.public_id) != str(user.pk)
    assert UserFactory().public_id != public_id


def test_email_is_unique_regardless_of_case():
    User.objects.create_user("Ada@Example.org", PASSWORD)

    with pytest.raises(IntegrityError):
        User.objects.create(email="ADA@example.ORG")


def test_passwords_are_hashed_with_argon2():
    user = UserFactory()

    assert user.password.startswith("argon2")


def test_member_signs_in_with_email_and_password():
    user = UserFactory(email="ada@example.org")

    browser = Client()

    response = browser.post("/accounts/login/", {"login": "ADA@example.org", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/"
    assert browser.session["_auth_user_id"] == str(user.pk)


def test_wrong_password_does_not_sign_in():
    UserFactory(email="ada@example.org")
    browser = Client()

    response = browser.post("/accounts/login/", {"login": "ada@example.org", "password": "wrong password"})

    assert response.status_code == 200
    assert "_auth_user_id" not in browser.session


def test_deactivated_member_cannot_sign_in():
    UserFactory(email="ada@example.org", is_active=False)
    browser = Client()

    browser.post("/accounts/login/", {"login": "ada@example.org", "password": PASSWORD})

    assert "_auth_user_id" not in browser.session


def test_login_page_has_no_sign_up_and_offers_password_reset():
    html = Client().get("/accounts/login/").content.decode()

    assert "sign up" not in html.lower()
    assert 'href="/accounts/password/reset/"' in html
    assert '<link rel="stylesheet" href="/static/css/latch.css">' in html or "latch.css" in html


def test_public_sign_up_is_closed():
    response = Client().post(
        "/accounts/signup/", {"email": "new@example.org", "password1": PASSWORD, "password2": PASSWORD}
    )

    # Not mounted at all (apps/accounts/urls.py), beside the adapter refusing sign-ups.
    assert response.status_code == 404
    assert not User.objects.filter(email="new@example.org").exists()


def test_sign_out():
    browser = Client()
    browser.force_login(UserFactory())

    browser.post("/accounts/logout/")

    assert "_auth_user_id" not in browser.session


def test_password_reset_by_email_link_sets_new_password_and_verifies_email():
    user = UserFactory(email="ada@example.org", email_verified=False)
    browser = Client()

    browser.post("/accounts/password/reset/", {"email": "ada@example.org"})

    assert len(mail.outbox) == 1
    # Outside DEBUG, links in mail are https (ACCOUNT_DEFAULT_HTTP_PROTOCOL).
    link = re.search(r"https://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)
    form_page = browser.get(link, follow=True)
    new_password = "a brand new passphrase 42"
    browser.post(form_page.redirect_chain[-1][0], {"password1": new_password, "password2": new_password})
    user.refresh_from_db()
    assert user.check_password(new_password)
    assert user.email_verified


def test_password_reset_answers_the_same_for_unknown_and_known_addresses():
    UserFactory(email="ada@example.org")

    known = Client().post("/accounts/password/reset/", {"email": "ada@example.org"})
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@example.org"})

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert [message.to for message in mail.outbox] == [["ada@example.org"]]


def test_createsuperuser_noinput_from_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@example.org")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long admin passphrase")

    call_command("createsuperuser", "--noinput")

    admin = User.objects.get(email="root@example.org")
    assert admin.is_staff
    assert admin.is_superuser
    assert admin.check_password("a long admin passphrase")


def test_account_page_needs_sign_in_and_shows_the_member():
    user = UserFactory(first_name="Ada", last_name="Lovelace")
    browser = Client()

    assert browser.get("/accounts/").status_code == 302
    browser.force_login(user)
    html = browser.get("/accounts/").content.decode()

    assert "Ada Lovelace" in html
    assert user.email in html
