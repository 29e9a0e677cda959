"""Every change to an application reaches the client cache of every process (apps/oauth/client_cache.py).

This process forgets its kept rows at once (a concurrent request may read the old row again, which
the new generation then retires); the other processes learn of it from the new generation stored
once the change commits, never before it: a row read before the commit must not outlive it.
"""

from typing import Any

from django.db import router, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.oauth import client_cache
from apps.oauth.models import Application, applications_updated


def _changed(using: str | None) -> None:
    client_cache.forget_kept_rows()
    transaction.on_commit(client_cache.applications_changed, using=using or router.db_for_write(Application))


@receiver(post_save, sender=Application, dispatch_uid="latch.client_cache.saved")
def application_saved(sender: Any, instance: Application, using: str | None = None, **kwargs: Any) -> None:
    _changed(using)


@receiver(post_delete, sender=Application, dispatch_uid="latch.client_cache.deleted")
def application_deleted(sender: Any, instance: Application, using: str | None = None, **kwargs: Any) -> None:
    _changed(using)


@receiver(applications_updated, sender=Application, dispatch_uid="latch.client_cache.updated")
def applications_updated_in_bulk(sender: Any, using: str | None = None, **kwargs: Any) -> None:
    _changed(using)
