"""Dynamic client registration (RFC 7591, RFC 7592): who may register, and what each registration is.

Both bearer credentials here are 256 random bits stored only as SHA-256 digests (DigestField), with
a short prefix so an administrator can recognise a token someone reports. The rules are in
apps/registration/services.py.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.fields import DigestField

TOKEN_PREFIX_LENGTH = 8


class InitialAccessToken(models.Model):
    """What an administrator hands to a developer so that their app can register itself (RFC 7591 §3).

    It sets the ceiling of the scopes any client registered with it may ever be allowed, and how
    many clients it may register (1: single-use).
    """

    token = DigestField(_("token digest"), unique=True, editable=False)
    token_prefix = models.CharField(
        _("token prefix"),
        max_length=TOKEN_PREFIX_LENGTH,
        editable=False,
        help_text=_("For recognition only."),
    )
    description = models.CharField(
        _("description"),
        max_length=200,
        blank=True,
        help_text=_("For whom, or for which app, it was issued."),
    )
    scopes = models.JSONField(
        _("allowed scopes"),
        default=list,
        help_text=_("The most a client registered with this token may ever be allowed."),
    )
    expires = models.DateTimeField(_("expires"))
    max_uses = models.PositiveIntegerField(
        _("registrations allowed"), default=1, help_text=_("1: the token registers one client only.")
    )
    uses = models.PositiveIntegerField(_("registrations made"), default=0, editable=False)
    revoked = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("initial access token")
        constraints = [
            models.CheckConstraint(condition=Q(max_uses__gte=1), name="registration_iat_max_uses_positive"),
            models.CheckConstraint(
                condition=Q(uses__lte=F("max_uses")), name="registration_iat_uses_bounded"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.token_prefix}… ({self.description or f'{self.created:%Y-%m-%d}'})"

    def is_usable(self, now=None) -> bool:
        """Not revoked, not expired and not spent."""
        now = now or timezone.now()
        return self.revoked is None and self.expires > now and self.uses < self.max_uses


class ClientRegistration(models.Model):
    """An application that registered itself, and the registration access token that manages it (RFC 7592).

    The scope ceiling is copied from the initial access token it was registered with, so that an
    update is held to it even after that token is spent, revoked or deleted.
    """

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="registration",
        verbose_name=_("application"),
    )
    registration_access_token = DigestField(
        _("registration access token digest"), unique=True, editable=False
    )
    token_prefix = models.CharField(
        _("token prefix"),
        max_length=TOKEN_PREFIX_LENGTH,
        editable=False,
        help_text=_("For recognition only."),
    )
    scope_ceiling = models.JSONField(_("scope ceiling"), default=list, editable=False)
    initial_access_token = models.ForeignKey(
        InitialAccessToken,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="registrations",
        verbose_name=_("initial access token"),
    )
    # RFC 7591 §2 `contacts`: the Application model has no field for them.
    contacts = models.JSONField(_("contacts"), default=list, blank=True)
    created = models.DateTimeField(_("registered"), default=timezone.now, editable=False)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("client registration")

    def __str__(self) -> str:
        return str(self.application)
