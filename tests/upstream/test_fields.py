"""Encrypted columns (apps/upstream/fields.py): a value belongs to one row and one field, and only there."""

import pytest
from django.core import checks
from django.db import connection as db_connection
from django.db import models, transaction

from apps.upstream import crypto
from apps.upstream.checks import check_encrypted_models_have_their_key_before_saving
from apps.upstream.fields import EncryptedTextField, seal, unseal
from apps.upstream.models import Connection, UpstreamProvider
from tests.accounts.factories import UserFactory
from tests.upstream.factories import ConnectionFactory, UpstreamProviderFactory, vault_keys

pytestmark = pytest.mark.django_db


def test_sealed_values_come_back_after_a_round_trip_through_the_database():
    connection = ConnectionFactory(access="access-1", refresh="refresh-1")

    stored = Connection.objects.get(pk=connection.pk)

    assert stored.access_token.startswith("v1:k1:")
    assert unseal(stored, "access_token") == "access-1"
    assert unseal(stored, "refresh_token") == "refresh-1"


def test_a_token_copied_to_another_members_connection_does_not_decrypt():
    mine = ConnectionFactory()
    theirs = ConnectionFactory(provider=mine.provider)

    Connection.objects.filter(pk=theirs.pk).update(access_token=mine.access_token)

    with pytest.raises(crypto.VaultError, match="copied from another row or field"):
        unseal(Connection.objects.get(pk=theirs.pk), "access_token")


def test_a_refresh_token_copied_into_the_access_token_field_does_not_decrypt():
    connection = ConnectionFactory()

    Connection.objects.filter(pk=connection.pk).update(access_token=connection.refresh_token)

    with pytest.raises(crypto.VaultError):
        unseal(Connection.objects.get(pk=connection.pk), "access_token")


def test_a_connection_re_pointed_to_another_member_no_longer_decrypts():
    connection = ConnectionFactory()
    intruder = UserFactory()

    Connection.objects.filter(pk=connection.pk).update(user=intruder)

    with pytest.raises(crypto.VaultError):
        unseal(Connection.objects.get(pk=connection.pk), "refresh_token")


def test_a_client_secret_copied_to_another_provider_does_not_decrypt():
    first, second = UpstreamProviderFactory(), UpstreamProviderFactory()

    UpstreamProvider.objects.filter(pk=second.pk).update(client_secret=first.client_secret)

    with pytest.raises(crypto.VaultError):
        unseal(UpstreamProvider.objects.get(pk=second.pk), "client_secret")


def test_a_connection_token_copied_into_a_provider_secret_does_not_decrypt():
    connection = ConnectionFactory()
    provider = connection.provider

    UpstreamProvider.objects.filter(pk=provider.pk).update(client_secret=connection.access_token)

    with pytest.raises(crypto.VaultError):
        unseal(UpstreamProvider.objects.get(pk=provider.pk), "client_secret")


def test_a_changed_byte_in_the_database_is_detected():
    connection = ConnectionFactory()
    tampered = connection.access_token[:-3] + (
        "AAA" if not connection.access_token.endswith("AAA") else "BBB"
    )

    Connection.objects.filter(pk=connection.pk).update(access_token=tampered)

    with pytest.raises(crypto.VaultError):
        unseal(Connection.objects.get(pk=connection.pk), "access_token")


def test_values_under_an_old_key_decrypt_after_rotation(settings):
    connection = ConnectionFactory(access="before-rotation")
    settings.LATCH_VAULT_KEYS = vault_keys("k1", "k2", current="k2")

    stored = Connection.objects.get(pk=connection.pk)
    assert unseal(stored, "access_token") == "before-rotation"
    seal(stored, "access_token", "after-rotation")
    assert stored.access_token.startswith("v1:k2:")


def test_plaintext_assigned_by_mistake_never_reaches_the_database():
    connection = ConnectionFactory()
    connection.access_token = "ya29.plaintext"

    with pytest.raises(ValueError, match=r"not encrypted; assign it with apps\.upstream\.fields\.seal"):
        with transaction.atomic():
            connection.save()
    with pytest.raises(ValueError, match="not encrypted"), transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(refresh_token="plaintext")
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM upstream_connection")
        assert "ya29.plaintext" not in str(cursor.fetchall())


def test_sealing_needs_the_primary_key_first():
    provider = UpstreamProvider(name="No slug yet")

    with pytest.raises(ValueError, match="needs its primary key"):
        seal(provider, "client_secret", "s")


def test_only_encrypted_fields_can_be_sealed():
    provider = UpstreamProviderFactory()

    with pytest.raises(TypeError, match="is not an EncryptedTextField"):
        seal(provider, "client_id", "s")


def test_encrypted_fields_are_never_in_a_model_form():
    assert not Connection._meta.get_field("access_token").editable
    assert not UpstreamProvider._meta.get_field("client_secret").editable


def test_system_check_refuses_encrypted_fields_on_an_auto_incremented_key():
    class Leaky(models.Model):  # noqa: DJ008
        secret = EncryptedTextField()

        class Meta:
            app_label = "upstream"

    try:
        errors = check_encrypted_models_have_their_key_before_saving(None)
    finally:
        from django.apps import apps

        del apps.get_app_config("upstream").models["leaky"]
        apps.clear_cache()

    assert [error.id for error in errors] == ["latch.upstream.E001"]
    assert errors[0].obj is Leaky
    assert isinstance(errors[0], checks.Error)


def test_system_check_accepts_latchs_own_models():
    assert check_encrypted_models_have_their_key_before_saving(None) == []
