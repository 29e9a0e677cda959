"""manage.py registration_token create / list / revoke."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.registration.models import InitialAccessToken
from tests.registration.factories import code_client_metadata, register

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("registration_token", *args, stdout=out)
    return out.getvalue()


def test_create_prints_a_token_once_that_registers_a_client():
    output = run("create", "--scopes", "openid member-read offline_access", "--expires", "7d", "--json")

    value = json.loads(output)["initial_access_token"]
    stored = InitialAccessToken.objects.get()
    assert stored.token != value
    assert stored.token_prefix == value[:8]
    assert stored.scopes == ["openid", "offline_access", "member-read"]
    assert stored.max_uses == 1
    assert timedelta(days=6, hours=23) < stored.expires - timezone.now() <= timedelta(days=7)
    assert register(value, code_client_metadata()).status_code == 201
    event = AuditEvent.objects.get(event=AuditEvent.Event.REGISTRATION_TOKEN_ISSUED)
    assert event.actor_label == "manage.py"
    assert value not in json.dumps(event.details)


def test_create_with_several_uses_and_plain_output():
    output = run(
        "create", "--scopes", "member-read", "--expires", "12h", "--uses", "5", "--description", "Kiosk team"
    )

    value = re.search(r"initial access token: (\S+)", output).group(1)
    stored = InitialAccessToken.objects.get(token=value)
    assert stored.max_uses == 5
    assert stored.description == "Kiosk team"
    assert "Shown once" in output


@pytest.mark.parametrize(
    "args",
    [
        ["--scopes", "admin", "--expires", "7d"],
        ["--scopes", "", "--expires", "7d"],
        ["--scopes", "member-read", "--expires", "7"],
        ["--scopes", "member-read", "--expires", "-1d"],
        ["--scopes", "member-read", "--expires", "0d"],
        ["--scopes", "member-read", "--expires", "7d", "--uses", "0"],
    ],
)
def test_create_refuses_bad_arguments_and_stores_nothing(args):
    with pytest.raises((CommandError, SystemExit)):
        run("create", *args)

    assert not InitialAccessToken.objects.exists()


def test_list_shows_usable_tokens_and_all_with_their_state():
    usable = json.loads(run("create", "--scopes", "member-read", "--expires", "1d", "--json"))[
        "initial_access_token"
    ]
    spent = json.loads(run("create", "--scopes", "member-read", "--expires", "1d", "--json"))[
        "initial_access_token"
    ]
    InitialAccessToken.objects.filter(token=spent).update(uses=1)

    listed = run("list")
    everything = run("list", "--all")

    assert usable[:8] in listed
    assert spent[:8] not in listed
    assert f"{spent[:8]}…  used up" in everything
    assert usable not in everything  # only prefixes, never a whole token


def test_revoke_by_prefix_stops_the_token_and_is_audited():
    value = json.loads(run("create", "--scopes", "member-read", "--expires", "1d", "--uses", "3", "--json"))[
        "initial_access_token"
    ]

    output = run("revoke", value[:8])

    assert "Revoked" in output
    assert InitialAccessToken.objects.get().revoked is not None
    assert (
        register(
            value, code_client_metadata(scope="member-read", grant_types=["authorization_code"])
        ).status_code
        == 401
    )
    assert AuditEvent.objects.filter(event=AuditEvent.Event.REGISTRATION_TOKEN_REVOKED).count() == 1
    with pytest.raises(CommandError):
        run("revoke", value[:8])  # already revoked
    with pytest.raises(CommandError):
        run("revoke", "nosuchpr")
