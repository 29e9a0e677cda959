"""A copy of the database holds no upstream secret: client secrets and members' tokens are ciphertext.

Like tests/oauth/test_database_leak.py for Latch's own credentials: every way a secret enters (the
admin, the command, a connection, a rotation, a revocation) runs first, then every column of every
table is read raw, as a leaked dump would have it.
"""

import base64
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection as db_connection

from apps.upstream import crypto
from apps.upstream.fields import context
from apps.upstream.models import Connection, UpstreamProvider
from apps.upstream.services import Actor, connection_revoke
from tests.upstream.factories import ConnectionFactory, UpstreamProviderFactory, _key, vault_keys

pytestmark = pytest.mark.django_db

ADMIN_SECRET = "secret-typed-into-the-admin-7f3a9c"
COMMAND_SECRET = "secret-given-to-the-command-0d41b2"


def raw_database() -> str:
    """Every value of every column of every table, as text."""
    dump = []
    with db_connection.cursor() as cursor:
        for table in db_connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {db_connection.ops.quote_name(table)}")  # noqa: S608
            dump.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(dump)


@pytest.fixture
def leaked(admin_browser, tmp_path, settings, upstream):
    secrets: list[str] = [ADMIN_SECRET, COMMAND_SECRET]
    response = admin_browser.post(
        "/admin/upstream/upstreamprovider/add/",
        {
            "slug": "from-admin",
            "name": "From the admin",
            "enabled": "on",
            "authorization_endpoint": "https://a.example.edu/authorize",
            "token_endpoint": "https://a.example.edu/token",
            "client_id": "latch",
            "new_client_secret": ADMIN_SECRET,
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "available_scopes": "[]",
        },
    )
    assert response.status_code == 302, response.content.decode()
    secret_file = tmp_path / "secret"
    secret_file.write_text(COMMAND_SECRET)
    call_command(
        "upstream_provider", "add", "from-command", "--name", "From the command",
        "--authorization-endpoint", "https://c.example.edu/authorize",
        "--token-endpoint", "https://c.example.edu/token", "--client-id", "latch",
        "--client-secret-file", str(secret_file), stdout=StringIO(),
    )  # fmt: skip
    provider = UpstreamProviderFactory()
    secrets.append(provider.secret)
    connections = [ConnectionFactory(provider=provider) for _ in range(3)]
    for connection in connections:
        secrets += [connection.access, connection.refresh]
    # A rotation re-encrypts everything; a revocation deletes one connection's tokens.
    settings.LATCH_VAULT_KEYS = vault_keys("k1", "k2", current="k2")
    call_command("vault_rekey", stdout=StringIO())
    upstream.post(provider.revocation_endpoint)
    connection_revoke(connection=connections[0], actor=Actor(label="test"))
    return {"dump": raw_database(), "secrets": secrets}


def test_no_plaintext_secret_or_token_is_anywhere_in_the_database(leaked):
    dump = leaked["dump"]

    for secret in leaked["secrets"]:
        assert secret not in dump
        assert base64.b64encode(secret.encode()).decode().rstrip("=") not in dump
        assert base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=") not in dump
    assert dump.count("v1:k2:") == 3 + 2 * 2  # three client secrets, two live connections' tokens


def test_the_vault_keys_are_not_in_the_database(leaked):
    for kid in ("k1", "k2"):
        key = _key(kid)
        assert key.decode() not in leaked["dump"]
        assert base64.b64encode(key).decode() not in leaked["dump"]


def test_stored_values_are_useless_without_the_keys(leaked):
    """Whoever holds the dump but not LATCH_VAULT_KEYS cannot decrypt, even guessing the context."""
    guessed = crypto.VaultKeys(current="k2", keys={"k2": bytes(32)})
    stored = [(provider, "client_secret") for provider in UpstreamProvider.objects.all()] + [
        (connection, name)
        for connection in Connection.objects.all()
        for name in ("access_token", "refresh_token")
    ]

    for instance, name in stored:
        blob = getattr(instance, name)
        if blob:
            with pytest.raises(crypto.VaultError):
                crypto.decrypt(blob, context=context(instance, name), keys=guessed)
