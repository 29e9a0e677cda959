"""The demo admin reaches the admin with the second factor `make run`'s banner tells of."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.accounts.models import User
from tests.accounts.mfa import wait_unless_the_code_lasts_2_seconds

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings, tmp_path):
    """`load_demo` as under `make run` (development settings); the credentials file it wrote."""
    settings.DEBUG = True
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"]}
    credentials_file = tmp_path / "demo-credentials.json"
    call_command("load_demo", "--credentials-file", str(credentials_file), stdout=StringIO())
    return credentials_file


def demo_totp(credentials_file, *args: str) -> str:
    wait_unless_the_code_lasts_2_seconds()
    out = StringIO()
    call_command("demo_totp", *args, "--credentials-file", str(credentials_file), stdout=out)
    return out.getvalue().strip()


def sign_in_to_the_admin(email: str, password: str, code: str) -> Client:
    browser = Client()
    first = browser.post("/accounts/login/", {"login": email, "password": password})
    assert first["Location"] == "/accounts/2fa/authenticate/"
    browser.post("/accounts/2fa/authenticate/", {"code": code})
    return browser


def test_the_demo_admin_signs_in_to_the_admin_with_the_code_demo_totp_prints(demo):
    stored = json.loads(demo.read_text())
    code = demo_totp(demo)

    browser = sign_in_to_the_admin("admin@example.org", stored["passwords"]["admin@example.org"], code)

    assert browser.get("/admin/").status_code == 200
    assert list(stored["totp_secrets"]) == ["admin@example.org"]  # members sign in with a password alone


def test_the_banner_prints_the_admins_authenticator_secret_and_the_example_app(settings, demo):
    secret = json.loads(demo.read_text())["totp_secrets"]["admin@example.org"]
    out = StringIO()

    call_command("load_demo", "--credentials-file", str(demo), stdout=out)

    banner = out.getvalue()
    assert secret in banner
    assert "manage.py demo_totp" in banner
    assert "http://127.0.0.1:9000/" in banner
    assert "second factor" in banner


def test_reloading_the_demo_keeps_the_authenticator(demo):
    before = json.loads(demo.read_text())["totp_secrets"]

    call_command("load_demo", "--credentials-file", str(demo), stdout=StringIO())

    assert json.loads(demo.read_text())["totp_secrets"] == before
    admin = User.objects.get(email="admin@example.org")
    assert admin.authenticator_set.filter(type="totp").count() == 1


def test_a_lost_credentials_file_gives_the_admin_a_new_authenticator_and_the_old_code_fails(demo, tmp_path):
    stored = json.loads(demo.read_text())
    old_code = demo_totp(demo)
    renewed = tmp_path / "renewed.json"

    call_command("load_demo", "--credentials-file", str(renewed), stdout=StringIO())

    admin = User.objects.get(email="admin@example.org")
    assert admin.authenticator_set.filter(type="totp").count() == 1
    password = json.loads(renewed.read_text())["passwords"]["admin@example.org"]
    assert password != stored["passwords"]["admin@example.org"]
    new_code = demo_totp(renewed)
    if new_code != old_code:  # two random secrets share a code one time in a million
        refused = sign_in_to_the_admin("admin@example.org", password, old_code)
        assert refused.get("/admin/").status_code == 302
    assert sign_in_to_the_admin("admin@example.org", password, new_code).get("/admin/").status_code == 200


def test_demo_totp_refuses_outside_development(tmp_path):
    with pytest.raises(CommandError, match="development only"):
        call_command("demo_totp", "--credentials-file", str(tmp_path / "x.json"))


def test_demo_totp_names_the_users_it_knows(demo):
    with pytest.raises(CommandError, match=r"No demo authenticator for ada@example.org .*admin@example.org"):
        demo_totp(demo, "ada@example.org")
