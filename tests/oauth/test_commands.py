import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.oauth.models import Application
from tests.oauth import flow

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_client_json_prints_credentials_that_work():
    output = run(
        "create_client", "Kiosk", "--grant", "client_credentials", "--client-type", "confidential",
        "--scopes", "member-read checkout-read", "--json",
    )  # fmt: skip

    credentials = json.loads(output)
    application = Application.objects.get(client_id=credentials["client_id"])
    assert application.allowed_scopes == ["member-read", "checkout-read"]
    assert application.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    application.secret = credentials["client_secret"]
    assert flow.client_credentials(Client(), application, scope="checkout-read").status_code == 200


def test_create_client_with_repeated_redirect_uris():
    output = run(
        "create_client", "Planner", "--grant", "authorization_code", "--client-type", "public",
        "--redirect-uri", "https://a.example.org/cb", "--redirect-uri", "https://b.example.org/cb",
        "--scopes", "openid member-read",
    )  # fmt: skip

    application = Application.objects.get(name="Planner")
    assert application.redirect_uris.split() == ["https://a.example.org/cb", "https://b.example.org/cb"]
    assert f"client_id:     {application.client_id}" in output
    assert "none (public client" in output


def test_create_client_require_par_makes_the_app_push_its_requests():
    run(
        "create_client", "Bank", "--grant", "authorization_code", "--client-type", "confidential",
        "--redirect-uri", "https://bank.example.org/cb", "--scopes", "openid", "--require-par",
    )  # fmt: skip
    run(
        "create_client", "Shop", "--grant", "authorization_code", "--client-type", "confidential",
        "--redirect-uri", "https://shop.example.org/cb", "--scopes", "openid",
    )  # fmt: skip

    assert dict(Application.objects.values_list("name", "require_pushed_authorization_requests")) == {
        "Bank": True,
        "Shop": False,
    }


def test_create_client_registers_a_back_channel_logout_uri():
    run(
        "create_client", "Planner", "--grant", "authorization_code", "--client-type", "confidential",
        "--redirect-uri", "https://planner.example.org/cb", "--scopes", "openid",
        "--backchannel-logout-uri", "https://planner.example.org/logout",
        "--backchannel-logout-session-required",
    )  # fmt: skip

    application = Application.objects.get(name="Planner")
    assert application.backchannel_logout_uri == "https://planner.example.org/logout"
    assert application.backchannel_logout_session_required is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scopes", "member-read nonsense"], "Unknown scopes: nonsense"),
        (
            ["--scopes", "openid", "--backchannel-logout-uri", "http://planner.example.org/logout"],
            "backchannel",
        ),
        (["--scopes", "openid", "--backchannel-logout-session-required"], "backchannel"),
        (["--scopes", "member-read", "--redirect-uri", "ftp://x.example.org/cb"], "redirect_uris"),
        (["--scopes", "member-read"], "redirect_uris"),
    ],
)
def test_create_client_refuses_invalid_registrations(args, message):
    base = ["create_client", "Bad", "--grant", "authorization_code", "--client-type", "confidential"]

    with pytest.raises(CommandError, match=message):
        run(*base, *args)

    assert not Application.objects.exists()


def test_rotate_client_secret_replaces_the_secret():
    credentials = json.loads(
        run("create_client", "K", "--grant", "client_credentials", "--client-type", "confidential",
            "--scopes", "member-read", "--json")
    )  # fmt: skip

    rotated = json.loads(run("rotate_client_secret", credentials["client_id"], "--json"))

    application = Application.objects.get()
    application.secret = credentials["client_secret"]
    assert flow.client_credentials(Client(), application).status_code == 401
    application.secret = rotated["client_secret"]
    assert flow.client_credentials(Client(), application).status_code == 200
