"""`create_client --require-dpop` (the admin's switch: tests/oauth/test_admin.py, tests/audit)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from apps.audit.models import AuditEvent
from apps.oauth.models import Application

pytestmark = pytest.mark.django_db


def create_client(*extra: str) -> Application:
    out = StringIO()
    call_command(
        "create_client", "Mobile", "--grant", "authorization_code", "--client-type", "public",
        "--redirect-uri", "https://mobile.example.org/cb", "--scopes", "openid", "--json", *extra,
        stdout=out,
    )  # fmt: skip
    return Application.objects.get(client_id=json.loads(out.getvalue())["client_id"])


def test_create_client_require_dpop_marks_the_app_and_records_it():
    application = create_client("--require-dpop")

    assert application.require_dpop
    (row,) = AuditEvent.objects.filter(event=AuditEvent.Event.APPLICATION_CREATED)
    assert row.details["require_dpop"] is True


def test_create_client_does_not_require_dpop_by_default():
    assert not create_client().require_dpop
