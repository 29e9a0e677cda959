"""Which browser sessions signed into which apps, and the logout tokens waiting to be sent to them.

Why a table and a command rather than a job queue: Latch has no queue (no broker, no worker
library) and a logout must be sent exactly when the sign-out commits. A row written in the
sign-out's own transaction is that (a transactional outbox): it exists if and only if the sign-out
happened, and a failed request rolls both back. `manage.py deliver_logout_tokens`, run every
minute, sends what is due; PostgreSQL's `SELECT ... FOR UPDATE SKIP LOCKED` lets several instances
run it at once, each row claimed by one of them. Attempts, errors and failures are in the admin.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SessionSignIn(models.Model):
    """A member's browser session (its `sid`) signed into an app: whom to tell when it ends.

    Written when an authorization code is issued to the app in that session (apps/oauth/validators.py
    save_authorization_code); deleted once the session's logout tokens are queued.
    """

    sid = models.CharField(_("session id"), max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("application"),
    )
    signed_in_at = models.DateTimeField(_("first signed in"), default=timezone.now)

    class Meta:
        verbose_name = _("session sign-in")
        constraints = [
            models.UniqueConstraint(fields=["sid", "application"], name="backchannel_session_once_per_app")
        ]
        indexes = [models.Index(fields=["user"], name="backchannel_session_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.application_id}"


class LogoutDelivery(models.Model):
    """One logout token to send to one app (OIDC Back-Channel Logout §2.5).

    Only what the token will say is stored (`sub`, `sid`): the token is signed when it is sent, with
    a fresh `jti`, `iat` and short `exp`, so nothing here is a credential anyone could replay.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    class Reason(models.TextChoices):
        SESSION_ENDED = "session_ended", _("a session signed out")
        SIGNED_OUT_EVERYWHERE = "signed_out_everywhere", _("signed out everywhere")
        DEACTIVATED = "deactivated", _("member deactivated")
        DELETED = "deleted", _("member deleted")

    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("application"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("member"),
    )
    sub = models.CharField(_("sub"), max_length=64, blank=True)
    sid = models.CharField(_("sid"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=32, choices=Reason)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    created_at = models.DateTimeField(_("queued"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("logout delivery")
        verbose_name_plural = _("logout deliveries")
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="backchannel_due_idx")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(sub="", sid=""), name="backchannel_sub_or_sid")
        ]

    def __str__(self) -> str:
        return f"logout token #{self.pk} for {self.application_id} ({self.status})"
