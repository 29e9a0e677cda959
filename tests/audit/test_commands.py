"""The management commands record what they do, as an administrator at manage.py."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def create_kiosk() -> dict:
    return json.loads(
        run("create_client", "Kiosk", "--grant", "client_credentials", "--client-type", "confidential",
            "--scopes", "member-read checkout-read", "--json")
    )  # fmt: skip


def test_create_client_records_application_created_by_manage_py():
    credentials = create_kiosk()

    (row,) = AuditEvent.objects.all()
    assert (row.event, row.actor_type, row.actor_user, row.actor_label) == (
        "application.created",
        "admin",
        None,
        "manage.py",
    )
    assert (row.client_id, row.ip) == (credentials["client_id"], None)
    assert row.details == {
        "name": "Kiosk",
        "client_type": "confidential",
        "grant_type": "client-credentials",
        "allowed_scopes": ["member-read", "checkout-read"],
        "redirect_uris": [],
        "pkce_optional": False,
        "is_resource_server": False,
        "require_dpop": False,
    }
    assert credentials["client_secret"] not in json.dumps(row.details)


def test_a_refused_registration_records_nothing():
    with pytest.raises(CommandError):
        run("create_client", "Bad", "--grant", "client_credentials", "--client-type", "confidential",
            "--scopes", "nonsense")  # fmt: skip

    assert not AuditEvent.objects.exists()


def test_rotate_client_secret_records_the_rotation_by_manage_py():
    credentials = create_kiosk()

    rotated = json.loads(run("rotate_client_secret", credentials["client_id"], "--json"))

    row = AuditEvent.objects.get(event="client_secret.rotated")
    assert (row.actor_type, row.actor_user, row.actor_label, row.client_id) == (
        "admin",
        None,
        "manage.py",
        credentials["client_id"],
    )
    assert row.details == {"name": "Kiosk"}
    assert rotated["client_secret"] not in json.dumps(row.details)


def test_rotating_an_unknown_client_records_nothing():
    with pytest.raises(CommandError):
        run("rotate_client_secret", "no-such-client")

    assert not AuditEvent.objects.exists()


def test_create_client_records_the_pkce_opt_out_and_the_resource_server_switch():
    output = run(
        "create_client", "Old portal", "--grant", "authorization_code", "--client-type", "confidential",
        "--redirect-uri", "https://portal.example.org/cb", "--scopes", "openid",
        "--pkce-optional", "--resource-server", "--json",
    )  # fmt: skip

    (row,) = AuditEvent.objects.all()
    assert row.client_id == json.loads(output)["client_id"]
    assert (row.details["pkce_optional"], row.details["is_resource_server"]) == (True, True)
