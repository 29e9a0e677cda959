"""The audit log: one row per security-relevant event, written once and never changed.

Append-only as far as Django goes: saving an existing row, deleting one, and a queryset's
`update()` / `delete()` raise `AppendOnlyError`. Outside this: raw SQL, and database-level access
(a PostgreSQL deployment can add `REVOKE UPDATE, DELETE` for Latch's role if it wants more).
The one change allowed is the one Django makes when a user is deleted: `actor_user` becomes NULL
(`on_delete=SET_NULL`), so the history outlives the account and `actor_label` still says who it was.
Applications are referred to by `client_id` text, not a foreign key, so deleting an application
touches no audit row at all.
"""

from typing import Any, NoReturn

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.precompiled import plain_insert


class AppendOnlyError(Exception):
    """An attempt to change or delete an audit row."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        # The only bulk change allowed is the SET_NULL Django runs when a user is deleted.
        if kwargs == {"actor_user": None}:
            return super().update(**kwargs)
        raise AppendOnlyError("Audit events cannot be changed.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    class Event(models.TextChoices):
        LOGIN_SUCCEEDED = "login.succeeded", _("sign-in succeeded")
        LOGIN_FAILED = "login.failed", _("sign-in failed")
        LOGOUT = "logout", _("signed out")
        SESSION_ENDED = "session.ended", _("signed out another browser")
        SIGNED_OUT_EVERYWHERE = "logout.everywhere", _("signed out everywhere")
        CONSENT_GRANTED = "consent.granted", _("consent granted")
        CONSENT_DENIED = "consent.denied", _("consent denied")
        TOKEN_ISSUED = "token.issued", _("token issued")
        TOKEN_REVOKED = "token.revoked", _("token revoked")
        REFRESH_TOKEN_REUSED = "refresh_token.reused", _("refresh token reused")
        AUTHORIZATION_CODE_REUSED = "authorization_code.reused", _("authorization code reused")
        CLIENT_AUTH_FAILED = "client_auth.failed", _("client authentication failed")
        THROTTLED = "throttled", _("throttled")
        APPLICATION_CREATED = "application.created", _("application created")
        APPLICATION_CHANGED = "application.changed", _("application changed")
        APPLICATION_DELETED = "application.deleted", _("application deleted")
        CLIENT_SECRET_ROTATED = "client_secret.rotated", _("client secret rotated")
        # Two-factor sign-in (apps/accounts/mfa.py): a member's authenticators and their use.
        MFA_ADDED = "mfa.added", _("two-factor method added")
        MFA_REMOVED = "mfa.removed", _("two-factor method removed")
        RECOVERY_CODES_GENERATED = "mfa.recovery_codes_generated", _("recovery codes generated")
        MFA_SUCCEEDED = "mfa.succeeded", _("second factor accepted")
        MFA_FAILED = "mfa.failed", _("second factor refused")
        # Upstream providers and the token vault (apps/upstream).
        UPSTREAM_PROVIDER_ADDED = "upstream_provider.added", _("upstream provider added")
        UPSTREAM_PROVIDER_CHANGED = "upstream_provider.changed", _("upstream provider changed")
        UPSTREAM_PROVIDER_REMOVED = "upstream_provider.removed", _("upstream provider removed")
        UPSTREAM_CLIENT_SECRET_CHANGED = (
            "upstream_provider.secret_changed",
            _("upstream client secret changed"),
        )
        CONNECTION_REVOKED = "connection.revoked", _("connection revoked")
        VAULT_REKEYED = "vault.rekeyed", _("vault re-encrypted under the current key")
        UPSTREAM_SIGN_IN = "upstream.sign_in", _("an upstream provider confirmed who you are")
        UPSTREAM_FAILED = "upstream.failed", _("sign-in or connect at an upstream provider failed")
        UPSTREAM_LINKED = "upstream.linked", _("upstream sign-in linked")
        UPSTREAM_UNLINKED = "upstream.unlinked", _("upstream sign-in unlinked")
        CONNECTION_CONNECTED = "connection.connected", _("account connected")
        CONNECTION_EXPIRED = "connection.expired", _("connection expired: its refresh was refused")
        # Token exchange, dynamic client registration and back-channel logout.
        TOKEN_EXCHANGED = "token.exchanged", _("token exchanged for another audience")
        CLIENT_REGISTERED = "client.registered", _("client registered itself")
        CLIENT_REGISTRATION_CHANGED = "client.registration_changed", _("registered client changed")
        CLIENT_REGISTRATION_DELETED = "client.registration_deleted", _("registered client deleted")
        REGISTRATION_TOKEN_ISSUED = "registration_token.issued", _("initial access token issued")
        REGISTRATION_TOKEN_REVOKED = "registration_token.revoked", _("initial access token revoked")
        BACKCHANNEL_LOGOUT_DELIVERED = "backchannel_logout.delivered", _("logout token delivered")
        BACKCHANNEL_LOGOUT_FAILED = "backchannel_logout.failed", _("logout token could not be delivered")

    class ActorType(models.TextChoices):
        USER = "user", _("member")
        CLIENT = "client", _("application")
        ADMIN = "admin", _("administrator")
        ANONYMOUS = "anonymous", _("anonymous")

    time = models.DateTimeField(_("time"), default=timezone.now, db_index=True, editable=False)
    event = models.CharField(_("event"), max_length=40, choices=Event)
    actor_type = models.CharField(_("actor type"), max_length=16, choices=ActorType)
    # Indexed by the (actor_user, time) index below, so no index of its own.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
    )
    actor_label = models.CharField(
        _("actor"),
        max_length=255,
        blank=True,
        help_text=_("Email, client id or manage.py; kept after deletion."),
    )
    client_id = models.CharField(_("client id"), max_length=100, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        # Cascades (the SET_NULL above) go through the base manager: make it the guarded one.
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["event", "time"], name="audit_event_time_idx"),
            models.Index(fields=["actor_user", "time"], name="audit_user_time_idx"),
            models.Index(fields=["client_id", "time"], name="audit_client_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.actor_label or self.actor_type}"

    @plain_insert  # a new row is Django's INSERT; only other saves are refused
    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise AppendOnlyError("Audit events cannot be changed.")
        kwargs["force_insert"] = True  # an INSERT, never an UPDATE of a row with the same pk
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")
