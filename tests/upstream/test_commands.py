"""`manage.py upstream_provider add|update|remove|list`: secrets in by file or prompt, never out."""

import io
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.upstream.fields import unseal
from apps.upstream.models import Connection, UpstreamIdentity, UpstreamProvider
from tests.upstream.factories import (
    ConnectionFactory,
    RequirementFactory,
    UpstreamIdentityFactory,
    UpstreamProviderFactory,
)
from tests.upstream.test_discovery import ISSUER, URL, configuration

pytestmark = pytest.mark.django_db

SECRET = "upstream-client-secret-abcdef0123456789"


def run(*args: str, stdin: str | None = None, monkeypatch=None) -> str:
    out = StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command("upstream_provider", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    return str(path)


def events(event: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event=event).order_by("pk"))


def test_add_with_discovery_fills_the_endpoints_and_seals_the_secret(upstream, secret_file):
    upstream.get(URL, json=configuration())

    output = run(
        "add", "university", "--name", "University", "--discovery-url", URL, "--client-id", "latch",
        "--client-secret-file", secret_file, "--scope", "openid=Sign you in",
        "--scope", "calendar.read=See your calendar", "--default-scopes", "openid", "--allow-sign-in",
    )  # fmt: skip

    assert "Added university (University)." in output
    provider = UpstreamProvider.objects.get()
    assert provider.issuer == ISSUER
    assert provider.token_endpoint == f"{ISSUER}/token"
    assert provider.available_scopes == [
        {"scope": "openid", "description": "Sign you in"},
        {"scope": "calendar.read", "description": "See your calendar"},
    ]
    assert provider.grant_types == ["authorization_code", "refresh_token"]
    assert provider.allow_sign_in
    assert provider.use_pkce
    assert provider.enabled
    assert unseal(provider, "client_secret") == SECRET
    assert SECRET not in provider.client_secret
    assert SECRET not in output
    [added] = events(AuditEvent.Event.UPSTREAM_PROVIDER_ADDED)
    assert added.details["provider"] == "university"
    assert SECRET not in json.dumps(added.details)


def test_add_with_explicit_endpoints_reads_the_secret_from_stdin(monkeypatch):
    run(
        "add", "legacy", "--name", "Old IdP", "--authorization-endpoint", "https://old.example.org/auth",
        "--token-endpoint", "https://old.example.org/token", "--client-id", "latch",
        "--client-secret-file", "-", "--auth-method", "client_secret_query", "--no-pkce",
        "--grant-types", "authorization_code",
        stdin=SECRET + "\n", monkeypatch=monkeypatch,
    )  # fmt: skip

    provider = UpstreamProvider.objects.get()
    assert provider.token_endpoint_auth_method == "client_secret_query"
    assert not provider.use_pkce
    assert provider.grant_types == ["authorization_code"]
    assert unseal(provider, "client_secret") == SECRET


def test_add_asks_for_the_secret_at_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: SECRET)

    run(
        "add", "idp", "--name", "IdP", "--authorization-endpoint", "https://idp.example.org/a",
        "--token-endpoint", "https://idp.example.org/t", "--client-id", "latch",
    )  # fmt: skip

    assert unseal(UpstreamProvider.objects.get(), "client_secret") == SECRET


def test_add_without_a_secret_and_without_a_terminal_is_refused(monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)

    with pytest.raises(CommandError, match="Give the client secret with --client-secret-file"):
        run(
            "add", "idp", "--name", "IdP", "--authorization-endpoint", "https://idp.example.org/a",
            "--token-endpoint", "https://idp.example.org/t", "--client-id", "latch",
        )  # fmt: skip
    assert not UpstreamProvider.objects.exists()


@pytest.mark.parametrize("option", ["--client-secret", "--client-secret=" + SECRET])
def test_a_secret_on_the_command_line_is_refused_without_repeating_it(option, secret_file):
    args = ["add", "idp", "--name", "IdP", "--client-id", "latch", "--token-endpoint", "https://i.example/t"]
    args += [option, SECRET] if "=" not in option else [option]

    with pytest.raises(CommandError) as error:
        run(*args)

    assert "a secret on the command line is kept by `ps`, shell history and CI logs" in str(error.value)
    assert SECRET not in str(error.value)
    assert not UpstreamProvider.objects.exists()


def test_an_abbreviated_option_is_not_taken_for_the_secret_file():
    with pytest.raises(CommandError) as error:
        run("add", "idp", "--name", "IdP", "--client-id", "latch", "--client-secret-fi", "/etc/passwd")

    assert "unrecognized arguments" in str(error.value)
    assert not UpstreamProvider.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--token-endpoint", "https://i.example/t"],
            "discovery_url: Give a discovery URL, or the authorization",
        ),
        (["--discovery-url", URL, "--grant-types", "refresh_token"], "Discovery failed"),
        (
            ["--authorization-endpoint", "http://i.example/a", "--token-endpoint", "https://i.example/t"],
            "authorization_endpoint: Must be an https URL.",
        ),
    ],
)
def test_add_refuses_an_invalid_provider_and_saves_nothing(upstream, secret_file, args, message):
    upstream.get(URL, status=500)

    with pytest.raises(CommandError, match=message):
        run("add", "idp", "--name", "IdP", "--client-id", "latch", "--client-secret-file", secret_file, *args)

    assert not UpstreamProvider.objects.exists()
    assert not AuditEvent.objects.filter(event__startswith="upstream_provider").exists()


def test_add_refuses_an_existing_slug(secret_file):
    UpstreamProviderFactory(slug="idp")

    with pytest.raises(CommandError, match="exists already; use `update`"):
        run("add", "idp", "--name", "IdP", "--client-id", "x", "--client-secret-file", secret_file)


def test_update_changes_only_what_is_given_and_audits_the_field_names(secret_file):
    provider = UpstreamProviderFactory(slug="idp", name="Old name")
    old_secret_blob = provider.client_secret

    run("update", "idp", "--name", "New name", "--no-enabled")

    provider.refresh_from_db()
    assert (provider.name, provider.enabled) == ("New name", False)
    assert provider.client_secret == old_secret_blob
    [changed] = events(AuditEvent.Event.UPSTREAM_PROVIDER_CHANGED)
    assert changed.details == {"provider": "idp", "fields": ["enabled", "name"]}
    assert not events(AuditEvent.Event.UPSTREAM_CLIENT_SECRET_CHANGED)


def test_update_replaces_the_secret_and_audits_that_it_changed(secret_file):
    provider = UpstreamProviderFactory(slug="idp")

    output = run("update", "idp", "--client-secret-file", secret_file)

    provider.refresh_from_db()
    assert unseal(provider, "client_secret") == SECRET
    assert SECRET not in output
    [event] = events(AuditEvent.Event.UPSTREAM_CLIENT_SECRET_CHANGED)
    assert event.details == {"provider": "idp"}
    assert not events(AuditEvent.Event.UPSTREAM_PROVIDER_CHANGED)


def test_update_rediscovers_on_request(upstream):
    UpstreamProviderFactory(slug="idp", discovery_url=URL, issuer=ISSUER)
    upstream.get(URL, json=configuration(token_endpoint=f"{ISSUER}/v2/token"))

    run("update", "idp", "--rediscover")

    assert UpstreamProvider.objects.get().token_endpoint == f"{ISSUER}/v2/token"
    [changed] = events(AuditEvent.Event.UPSTREAM_PROVIDER_CHANGED)
    assert changed.details == {"provider": "idp", "fields": ["token_endpoint"]}  # only what changed


def test_disabling_a_provider_an_app_cannot_work_without_warns():
    requirement = RequirementFactory(on_missing="error")

    output = run("update", requirement.provider.slug, "--no-enabled")

    assert f"these apps cannot work without it: {requirement.application.name}" in output


def test_update_of_an_unknown_provider():
    with pytest.raises(CommandError, match="No upstream provider 'nope'"):
        run("update", "nope", "--name", "x")


def test_remove_refuses_while_applications_depend_on_it():
    requirement = RequirementFactory()
    slug = requirement.provider.slug

    with pytest.raises(CommandError) as error:
        run("remove", slug, "--yes")

    assert f"cannot be removed: {requirement.application.name} needs it" in str(error.value)
    assert UpstreamProvider.objects.filter(pk=slug).exists()
    assert not events(AuditEvent.Event.UPSTREAM_PROVIDER_REMOVED)


def test_remove_asks_for_yes_when_members_would_lose_identities_and_connections():
    connection = ConnectionFactory()
    UpstreamIdentityFactory(provider=connection.provider)
    slug = connection.provider.slug

    with pytest.raises(CommandError, match="has 1 member identities and 1 connections"):
        run("remove", slug)
    assert "Removed" in run("remove", slug, "--yes")

    assert not UpstreamProvider.objects.exists()
    assert not Connection.objects.exists()
    assert not UpstreamIdentity.objects.exists()
    [removed] = events(AuditEvent.Event.UPSTREAM_PROVIDER_REMOVED)
    assert removed.details == {
        "provider": slug,
        "name": connection.provider.name,
        "identities": 1,
        "connections": 1,
    }


def test_list_never_prints_a_secret():
    providers = [UpstreamProviderFactory(slug="alpha"), UpstreamProviderFactory(slug="beta", enabled=False)]
    RequirementFactory(provider=providers[0])

    table = run("list")
    as_json = json.loads(run("list", "--json"))

    for provider in providers:
        assert provider.secret not in table
        assert provider.secret not in json.dumps(as_json)
        assert provider.client_secret not in table
        assert provider.client_secret not in json.dumps(as_json)
    assert table.splitlines()[0].split() == [
        "SLUG", "NAME", "ENABLED", "SIGN", "IN", "ENDPOINTS", "AUTH", "METHOD", "CLIENT", "SECRET",
        "APPLICATIONS",
    ]  # fmt: skip
    assert [row["slug"] for row in as_json] == ["alpha", "beta"]
    assert as_json[0]["client_secret"] == "set (key k1)"
    assert (as_json[0]["applications"], as_json[1]["enabled"]) == (1, False)


def test_list_with_no_providers():
    assert run("list") == "No upstream providers.\n"


def test_tokens_may_exceed_scopes_is_off_unless_the_command_turns_it_on():
    provider = UpstreamProviderFactory(slug="idp")
    assert provider.tokens_may_exceed_scopes is False

    run("update", "idp", "--tokens-may-exceed-scopes")

    provider.refresh_from_db()
    assert provider.tokens_may_exceed_scopes is True
    [changed] = events(AuditEvent.Event.UPSTREAM_PROVIDER_CHANGED)
    assert changed.details["fields"] == ["tokens_may_exceed_scopes"]
    [listed] = json.loads(run("list", "--json"))
    assert listed["tokens_may_exceed_scopes"] is True
