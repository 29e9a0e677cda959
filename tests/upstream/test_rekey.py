"""Key rotation: `vault_rekey` moves every value to the current key; `--retire` checks a key is unused."""

import threading
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.upstream import crypto, services
from apps.upstream.fields import seal, unseal
from apps.upstream.models import Connection, UpstreamProvider
from apps.upstream.selectors import values_under
from tests.upstream.factories import ConnectionFactory, UpstreamProviderFactory, vault_keys

pytestmark = pytest.mark.django_db

ROTATED = vault_keys("k1", "k2", current="k2")


def run(*args: str) -> str:
    out = StringIO()
    call_command("vault_rekey", *args, stdout=out, stderr=out)
    return out.getvalue()


def kids() -> set[str]:
    values = [p.client_secret for p in UpstreamProvider.objects.all()]
    for connection in Connection.objects.all():
        values += [connection.access_token, connection.refresh_token]
    return {crypto.blob_kid(value) for value in values if value}


def plaintexts() -> dict[str, str]:
    values = {f"p:{p.pk}": unseal(p, "client_secret") for p in UpstreamProvider.objects.all()}
    for connection in Connection.objects.all():
        values[f"a:{connection.pk}"] = unseal(connection, "access_token")
        values[f"r:{connection.pk}"] = unseal(connection, "refresh_token")
    return values


@pytest.fixture
def stored():
    """Two providers and five connections under k1, one connection without a refresh token."""
    providers = [UpstreamProviderFactory(), UpstreamProviderFactory()]
    for number in range(5):
        ConnectionFactory(provider=providers[number % 2])
    only_access = ConnectionFactory(provider=providers[0])
    Connection.objects.filter(pk=only_access.pk).update(refresh_token="")
    return plaintexts()


def test_rekey_moves_every_value_to_the_current_key_in_batches(stored, settings):
    settings.LATCH_VAULT_KEYS = ROTATED
    assert kids() == {"k1"}

    output = run("--batch-size", "2")

    assert kids() == {"k2"}
    assert plaintexts() == stored
    # 2 client secrets + 6 access tokens + 5 refresh tokens; providers in 1 batch, connections in 3.
    assert "Current key k2: re-encrypted 13 values in 8 rows (4 batches of up to 2)." in output
    assert "Everything is encrypted under the current key." in output
    assert values_under("k1") == {}


def test_rekey_is_idempotent(stored, settings):
    settings.LATCH_VAULT_KEYS = ROTATED
    run()
    after_first = {c.pk: (c.access_token, c.refresh_token) for c in Connection.objects.all()}

    output = run()

    assert "re-encrypted 0 values in 0 rows (0 batches" in output
    assert {c.pk: (c.access_token, c.refresh_token) for c in Connection.objects.all()} == after_first


def test_rekey_without_a_new_key_changes_nothing(stored):
    before = {c.pk: c.access_token for c in Connection.objects.all()}

    assert "re-encrypted 0 values" in run()
    assert {c.pk: c.access_token for c in Connection.objects.all()} == before


def test_rekey_is_audited(stored, settings):
    settings.LATCH_VAULT_KEYS = ROTATED

    run("--batch-size", "3")

    event = AuditEvent.objects.get(event=AuditEvent.Event.VAULT_REKEYED)
    assert event.actor_label == "manage.py"
    assert event.details == {
        "current_kid": "k2",
        "values_reencrypted": 13,
        "rows": 8,
        "batches": 3,
        "remaining": 0,
        "failures": 0,
    }


def test_rows_that_do_not_decrypt_are_reported_and_left_alone(stored, settings):
    damaged, other = Connection.objects.exclude(refresh_token="").order_by("pk")[:2]
    Connection.objects.filter(pk=damaged.pk).update(access_token=other.access_token)
    settings.LATCH_VAULT_KEYS = ROTATED

    with pytest.raises(CommandError, match="1 rows could not be decrypted"):
        run()

    damaged_after = Connection.objects.get(pk=damaged.pk)
    assert crypto.blob_kid(damaged_after.refresh_token) == "k1"  # the row is left whole, not half-moved
    assert values_under("k1") == {
        "upstream.connection.access_token": 1,
        "upstream.connection.refresh_token": 1,
    }


def test_a_value_written_during_the_run_is_not_overwritten(stored, settings):
    """Compare-and-swap: a refresh that lands between reading and writing a row wins."""
    settings.LATCH_VAULT_KEYS = ROTATED
    target = Connection.objects.exclude(refresh_token="").order_by("pk").first()
    real_resealed = services.resealed

    def refresh_meanwhile(row, name):
        if row.pk == target.pk and name == "access_token":
            fresh = Connection.objects.get(pk=target.pk)
            seal(fresh, "access_token", "refreshed-meanwhile")
            fresh.save(update_fields=["access_token"])
        return real_resealed(row, name)

    with mock.patch.object(services, "resealed", refresh_meanwhile):
        report = services.vault_rekey()

    assert unseal(Connection.objects.get(pk=target.pk), "access_token") == "refreshed-meanwhile"
    assert report.remaining == 1  # its refresh token is still under k1: the next run moves it
    services.vault_rekey()
    assert kids() == {"k2"}


def test_retire_refuses_while_anything_is_encrypted_under_the_key(stored, settings):
    settings.LATCH_VAULT_KEYS = ROTATED

    with pytest.raises(CommandError) as error:
        run("--retire", "k1")

    assert "13 values are still encrypted under k1" in str(error.value)
    assert "upstream.connection.access_token: 6" in str(error.value)
    assert "upstream.upstreamprovider.client_secret: 2" in str(error.value)
    run()
    assert "Nothing is encrypted under k1: remove it from LATCH_VAULT_KEYS" in run("--retire", "k1")


def test_the_current_key_cannot_be_retired(settings):
    settings.LATCH_VAULT_KEYS = ROTATED

    with pytest.raises(CommandError, match="k2 is the current key"):
        run("--retire", "k2")


@pytest.mark.parametrize("size", ["0", "-1", "x", "10001"])
def test_batch_size_must_be_sensible(size):
    with pytest.raises(CommandError, match="invalid _batch_size value"):
        run("--batch-size", size)


@pytest.mark.concurrency
def test_a_row_locked_by_a_refresh_is_skipped_not_waited_for_nor_lost(postgres_only, settings):
    """A refresh holds its connection's row; rekey moves the others and leaves that one for the next run."""
    settings.LATCH_VAULT_KEYS = vault_keys("k1")
    busy = ConnectionFactory()
    idle = ConnectionFactory(provider=busy.provider)
    settings.LATCH_VAULT_KEYS = ROTATED
    locked, release = threading.Event(), threading.Event()

    def refresh() -> None:
        from django.db import connection

        try:
            with transaction.atomic():
                row = Connection.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(timeout=30)
                seal(row, "access_token", "refreshed-while-rekeying")
                row.save(update_fields=["access_token"])
        finally:
            connection.close()

    thread = threading.Thread(target=refresh)
    thread.start()
    assert locked.wait(timeout=30)
    try:
        report = services.vault_rekey(batch_size=1)
    finally:
        release.set()
        thread.join(timeout=30)

    # The provider's secret and the idle connection's two tokens; the busy connection was skipped.
    assert (report.rows, report.values) == (2, 3)
    assert report.remaining == 1
    assert crypto.blob_kid(Connection.objects.get(pk=idle.pk).access_token) == "k2"
    refreshed = Connection.objects.get(pk=busy.pk)
    assert unseal(refreshed, "access_token") == "refreshed-while-rekeying"  # the refresh was not lost
    assert unseal(refreshed, "refresh_token") == busy.refresh
    services.vault_rekey()
    assert {crypto.blob_kid(c.refresh_token) for c in Connection.objects.all()} == {"k2"}


def test_a_value_that_is_no_vault_value_at_all_is_reported_not_a_crash(stored, settings):
    target = Connection.objects.exclude(refresh_token="").order_by("pk").first()
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Connection._meta.db_table} SET access_token = %s WHERE id = %s",  # noqa: S608
            ["written-by-raw-sql", Connection._meta.pk.get_db_prep_value(target.pk, db_connection)],
        )
    settings.LATCH_VAULT_KEYS = ROTATED

    report = services.vault_rekey()

    assert report.failed == [f"upstream.connection {target.pk}: The stored value is not a vault value (it "
                             "was changed or never encrypted)."]  # fmt: skip
    assert report.rows == 7


def test_saving_a_provider_loaded_before_a_rekey_keeps_the_re_encrypted_secret(settings):
    provider = UpstreamProviderFactory()
    stale = UpstreamProvider.objects.get(pk=provider.pk)
    settings.LATCH_VAULT_KEYS = ROTATED
    services.vault_rekey()

    stale.name = "Renamed"
    services.provider_save(provider=stale, client_secret=None, changed=["name"], actor=services.COMMAND)

    saved = UpstreamProvider.objects.get(pk=provider.pk)
    assert saved.name == "Renamed"
    assert crypto.blob_kid(saved.client_secret) == "k2"
    assert unseal(saved, "client_secret") == provider.secret
