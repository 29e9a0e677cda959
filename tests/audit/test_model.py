"""The audit log is append-only through the ORM; deleting a user keeps their history."""

import pytest
from django.db import IntegrityError, transaction

from apps.audit.models import AppendOnlyError, AuditEvent
from apps.audit.services import record
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def row():
    return record(AuditEvent.Event.LOGIN_SUCCEEDED, user=UserFactory(email="ada@example.org"))


def test_saving_an_existing_row_is_refused(row):
    row.actor_label = "mallory@example.org"

    with pytest.raises(AppendOnlyError):
        row.save()

    assert AuditEvent.objects.get().actor_label == "ada@example.org"


def test_saving_a_copy_over_an_existing_row_is_refused_by_the_database(row):
    copy = AuditEvent(pk=row.pk, event=AuditEvent.Event.LOGOUT, actor_type=AuditEvent.ActorType.ANONYMOUS)

    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()

    assert AuditEvent.objects.get().event == "login.succeeded"


@pytest.mark.parametrize(
    "change",
    [
        lambda row: row.save(update_fields=["actor_label"]),
        lambda row: row.delete(),
        lambda row: AuditEvent.objects.filter(pk=row.pk).update(actor_label="x"),
        lambda row: AuditEvent.objects.all().delete(),
        lambda row: AuditEvent.objects.bulk_update([row], ["actor_label"]),
        lambda row: AuditEvent.objects.update_or_create(pk=row.pk, defaults={"actor_label": "x"}),
    ],
    ids=[
        "save-update-fields",
        "delete",
        "queryset-update",
        "queryset-delete",
        "bulk-update",
        "update-or-create",
    ],
)
def test_changing_or_deleting_rows_through_the_orm_is_refused(row, change):
    with pytest.raises(AppendOnlyError), transaction.atomic():
        change(row)

    assert AuditEvent.objects.filter(pk=row.pk, actor_label="ada@example.org").count() == 1


def test_deleting_a_user_keeps_their_history_with_its_label(row):
    row.actor_user.delete()

    kept = AuditEvent.objects.get()
    assert kept.actor_user is None
    assert kept.actor_label == "ada@example.org"
    assert kept.event == "login.succeeded"
