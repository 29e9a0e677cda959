import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from apps.activities.models import Activity
from apps.checkout.models import Product, Transaction
from apps.groups.models import GroupMembership
from apps.members.models import Member
from apps.oauth.models import Application
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_load_demo_refuses_outside_development():
    with pytest.raises(CommandError, match="development only"):
        run("load_demo")


def test_load_demo_creates_the_demo_and_is_idempotent(settings, tmp_path):
    # As under `make run`: development settings, where the demo's http://127.0.0.1 callbacks are allowed.
    settings.DEBUG = True
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"]}
    credentials_file = tmp_path / "demo.json"

    first = run("load_demo", "--credentials-file", str(credentials_file))
    second = run("load_demo", "--credentials-file", str(credentials_file))

    assert Application.objects.count() == 3
    stored = json.loads(credentials_file.read_text())
    assert set(stored["passwords"]) == {"admin@example.org", "ada@example.org", "grace@example.org"}
    assert stored["client_secrets"]["demo-kiosk"] in first
    assert stored["client_secrets"]["demo-kiosk"] in second
    kiosk = Application.objects.get(client_id="demo-kiosk")
    kiosk.secret = stored["client_secrets"]["demo-kiosk"]
    assert flow.client_credentials(Client(), kiosk, scope="checkout-read").status_code == 200
    assert oct(credentials_file.stat().st_mode & 0o777) == "0o600"
    ada = Member.objects.get(email="ada@example.org")
    assert ada.user is not None
    assert ada.user.email == "ada@example.org"
    assert Member.objects.get(email="alan@example.org").user is None
    # A living association: upcoming activities, groups with members, a kiosk with products and sales.
    assert Activity.objects.filter(published=True, starts_at__gt=timezone.now()).exists()
    assert GroupMembership.objects.filter(ended__isnull=True).exists()
    assert Product.objects.filter(active=True).exists()
    assert Transaction.objects.filter(kind=Transaction.Kind.CHARGE, application=kiosk).exists()
    counts = (Activity.objects.count(), GroupMembership.objects.count(), Transaction.objects.count())
    run("load_demo", "--credentials-file", str(credentials_file))
    assert (Activity.objects.count(), GroupMembership.objects.count(), Transaction.objects.count()) == counts
