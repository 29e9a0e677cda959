"""The sign-outs that queue logout tokens and are not a call of Latch's own services.

A browser signing out (allauth's sign-out page, RP-initiated logout at /oauth/logout, the admin's
log out) goes through Django's `logout()`, which sends `user_logged_out` before it flushes the
session: the session's `sid` is still there to read. A member deactivated by a model save (the
admin, a shell, a command) is caught on the User's save; a queryset `update(is_active=False)` by
UserQuerySet.update (apps/accounts/models.py). A deleted member counts as deactivated (a queryset
delete() sends pre_delete for each row too).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from apps.accounts.sessions import SESSION_ID
from apps.backchannel import services
from apps.backchannel.models import LogoutDelivery

User = get_user_model()


@receiver(user_logged_out)
def queue_session_logout(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if user is not None and session is not None:
        services.logout_session(user=user, sid=session.get(SESSION_ID) or "")


@receiver(pre_save, sender=User)
def note_deactivation(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Whether this save deactivates the member: asked only when it saves an inactive value."""
    instance._latch_deactivating = (
        not raw
        and not instance.is_active
        and instance.pk is not None
        and (update_fields is None or "is_active" in update_fields)
        and sender._base_manager.filter(pk=instance.pk, is_active=True).exists()
    )


@receiver(post_save, sender=User)
def queue_deactivation_logout(sender, instance, raw=False, **kwargs) -> None:
    if getattr(instance, "_latch_deactivating", False):
        instance._latch_deactivating = False
        services.logout_member(user=instance, reason=LogoutDelivery.Reason.DEACTIVATED)


@receiver(pre_delete, sender=User)
def queue_deletion_logout(sender, instance, **kwargs) -> None:
    """Before the member's sessions and tokens go with them: the deliveries keep `sub` and outlive
    the member (their user is set to null)."""
    services.logout_member(user=instance, reason=LogoutDelivery.Reason.DELETED)
