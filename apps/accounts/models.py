import uuid
from typing import ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts import useragents
from apps.core.fields import DigestField


def _sync_allauth_addresses(user_ids: list) -> None:
    """allauth's EmailAddress rows of these users say what User.email and email_verified say.

    Latch keeps no address beside User.email: a row for another address is deleted, the row for
    User.email (if allauth made one) is primary and verified exactly when the user's address is.
    """
    from allauth.account.models import EmailAddress

    rows = EmailAddress.objects.filter(user_id__in=user_ids)
    rows.exclude(email__iexact=F("user__email")).delete()
    for verified in (True, False):
        rows.filter(user__email_verified=verified).exclude(primary=True, verified=verified).update(
            primary=True, verified=verified
        )


class UserQuerySet(models.QuerySet["User"]):
    def update(self, **kwargs) -> int:
        """A new address is unverified here too (see User.save), whatever else the update says; a
        member deactivated here is signed out of their apps (back-channel logout), as by a save
        (apps/backchannel/signals.py)."""
        if kwargs.get("is_active") is not False:
            return self._update_keeping_verification(**kwargs)
        from apps.backchannel.models import LogoutDelivery
        from apps.backchannel.services import logout_member

        with transaction.atomic(using=self.db):
            deactivated = list(self.filter(is_active=True).select_for_update())
            updated = self._update_keeping_verification(**kwargs)
            for user in deactivated:
                logout_member(user=user, reason=LogoutDelivery.Reason.DEACTIVATED)
        return updated

    def _update_keeping_verification(self, **kwargs) -> int:
        if "email" not in kwargs:
            return super().update(**kwargs)
        # In an UPDATE, `email` on the right still means the stored value: only a row whose
        # address really changes loses its verification.
        kept = kwargs.get("email_verified", F("email_verified"))
        kwargs["email_verified"] = Case(When(email=kwargs["email"], then=kept), default=Value(False))
        user_ids = list(self.values_list("pk", flat=True))
        updated = super().update(**kwargs)
        _sync_allauth_addresses(user_ids)
        return updated


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_queryset(self) -> UserQuerySet:
        return UserQuerySet(self.model, using=self._db)

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email__iexact=username)

    def _create_user(self, email: str, password: str | None, **extra_fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser needs is_staff and is_superuser.")
        return self._create_user(email, password, **extra_fields)

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        return (email or "").strip().lower()


class User(AbstractBaseUser, PermissionsMixin):
    """A person who can sign in to Latch, identified by email.

    `public_id` is what the outside world sees (the OIDC `sub`, the `member.id` in token responses):
    it is random, stable for the life of the account, and reveals nothing about the database.
    """

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(_("email address"), unique=True)
    email_verified = models.BooleanField(
        _("email verified"),
        default=False,
        help_text=_("Whether the member has shown they receive mail at this address."),
    )
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    is_staff = models.BooleanField(
        _("staff status"), default=False, help_text=_("Whether the user can sign in to the admin.")
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Unselect this instead of deleting accounts.")
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = UserManager()
    _stored_email: str | None = None
    _stored_email_verified: bool | None = None

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = UserManager.normalize_email(self.email)

    # --- email_verified holds for the address it was verified for, on every path ---------------
    # Admin, import_members, allauth and the shell all end in save() (or UserQuerySet.update): a
    # changed address is unverified until a mail to it is answered (apps/accounts/signals.py),
    # even if the same save says otherwise. The values as loaded are kept to compare with.

    @classmethod
    def from_db(cls, db, field_names, values, *, fetch_mode=None):
        user = super().from_db(db, field_names, values, fetch_mode=fetch_mode)
        user._remember_stored_email()
        return user

    def refresh_from_db(self, *args, **kwargs) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._remember_stored_email()

    def _remember_stored_email(self) -> None:
        self._stored_email = self.__dict__.get("email")
        self._stored_email_verified = self.__dict__.get("email_verified")

    def _email_changes(self, saves) -> bool:
        if not saves("email") or "email" not in self.__dict__:
            return False
        stored = self._stored_email
        if stored is None and self.pk is not None:
            # Loaded without its email (only()/defer()), or built with an existing pk: ask the database.
            stored = type(self)._base_manager.filter(pk=self.pk).values_list("email", flat=True).first()
        return stored is not None and self.email != stored

    def save(self, *args, **kwargs) -> None:
        update_fields = kwargs.get("update_fields")
        saves = (lambda name: True) if update_fields is None else (lambda name: name in update_fields)
        email_changed = self._email_changes(saves)
        if email_changed:
            self.email_verified = False
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "email_verified"}
        verification_changed = (
            self.pk is not None
            and saves("email_verified")
            and self.email_verified != self._stored_email_verified
        )
        super().save(*args, **kwargs)
        self._remember_stored_email()
        if email_changed or verification_changed:
            _sync_allauth_addresses([self.pk])

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email


class HashedKeySession(AbstractBaseSession):
    """A browser session stored under sha256(session key); see apps/accounts/sessions.py.

    The columns beside Django's own are copied from the session's data on every save (the session
    engine's `create_model_instance`), so a member's signed-in browsers can be listed and ended
    without decoding every session.
    """

    session_key = DigestField(_("session key digest"), primary_key=True)
    user = models.ForeignKey(
        "accounts.User", verbose_name=_("user"), null=True, blank=True, on_delete=models.CASCADE
    )
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    signed_in_at = models.DateTimeField(_("signed in"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)

    @property
    def browser(self) -> str:
        return useragents.describe(self.user_agent)

    class Meta(AbstractBaseSession.Meta):
        db_table = "accounts_session"

    @classmethod
    def get_session_store_class(cls):
        from apps.accounts.sessions import SessionStore

        return SessionStore
