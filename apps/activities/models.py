import datetime

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Activity(models.Model):
    """Something the association organises that members enrol in: a lecture, a trip, a game night.

    Places are limited by `participant_limit` (None: unlimited). When it is reached, members join
    the waiting list, itself limited by `waiting_list_limit` (None: unlimited, 0: no waiting list).
    Only published activities exist as far as the API is concerned.
    """

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    location = models.CharField(_("location"), max_length=200, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    price_cents = models.IntegerField(
        _("price (cents)"),
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_("0 for a free activity."),
    )
    participant_limit = models.PositiveIntegerField(
        _("participant limit"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty for an unlimited number of participants."),
    )
    waiting_list_limit = models.PositiveIntegerField(
        _("waiting list limit"),
        null=True,
        blank=True,
        help_text=_("Empty for an unlimited waiting list, 0 for no waiting list."),
    )
    registration_opens_at = models.DateTimeField(
        _("registration opens at"), null=True, blank=True, help_text=_("Empty: open from publication.")
    )
    registration_closes_at = models.DateTimeField(
        _("registration closes at"),
        null=True,
        blank=True,
        help_text=_("Empty: open until the activity starts. Leaving is not possible after it closes."),
    )
    published = models.BooleanField(_("published"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ("starts_at", "pk")
        indexes = [models.Index(fields=["starts_at"], name="activity_starts_at_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="activity_ends_after_start"),
            models.CheckConstraint(condition=Q(price_cents__gte=0), name="activity_price_not_negative"),
            models.CheckConstraint(
                condition=Q(participant_limit__isnull=True) | Q(participant_limit__gte=1),
                name="activity_participant_limit_positive",
            ),
            models.CheckConstraint(
                condition=Q(waiting_list_limit__isnull=True) | Q(waiting_list_limit__gte=0),
                name="activity_waiting_list_limit_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(registration_closes_at__isnull=True)
                | Q(registration_closes_at__lte=F("starts_at")),
                name="activity_registration_closes_before_start",
            ),
            models.CheckConstraint(
                condition=Q(registration_opens_at__isnull=True)
                | Q(registration_closes_at__isnull=True)
                | Q(registration_opens_at__lt=F("registration_closes_at")),
                name="activity_registration_opens_before_it_closes",
            ),
        ]

    def __str__(self) -> str:
        if self.starts_at is None:  # an unsaved form in the admin
            return self.name
        return f"{self.name} ({timezone.localtime(self.starts_at):%Y-%m-%d %H:%M})"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("An activity ends after it starts.")
        if self.starts_at and self.registration_closes_at and self.registration_closes_at > self.starts_at:
            errors["registration_closes_at"] = _("Registration closes before the activity starts.")
        if (
            self.registration_opens_at
            and self.registration_closes_at
            and self.registration_opens_at >= self.registration_closes_at
        ):
            errors["registration_opens_at"] = _("Registration opens before it closes.")
        if errors:
            raise ValidationError(errors)

    def enrolment_refusal(self, now: datetime.datetime) -> str | None:
        """Why a member cannot enrol at `now`, or None when registration is open."""
        if now >= self.starts_at:
            return "The activity has already started."
        if self.registration_opens_at is not None and now < self.registration_opens_at:
            return f"Registration opens at {self.registration_opens_at.isoformat()}."
        if self.registration_closes_at is not None and now >= self.registration_closes_at:
            return "Registration has closed."
        return None

    def leaving_refusal(self, now: datetime.datetime) -> str | None:
        """Why a member cannot leave at `now` (registration closed or the activity started), or None."""
        if now >= self.starts_at:
            return "The activity has already started."
        if self.registration_closes_at is not None and now >= self.registration_closes_at:
            return "Registration has closed."
        return None

    @property
    def registration_open(self) -> bool:
        return self.published and self.enrolment_refusal(timezone.now()) is None


class Participant(models.Model):
    """A member's place in an activity, or on its waiting list. Leaving deletes the row.

    The waiting list is ordered by `enrolled_at`, then by pk.
    """

    class Status(models.TextChoices):
        ENROLLED = "enrolled", _("Enrolled")
        WAITING = "waiting", _("Waiting list")

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="participations", verbose_name=_("member")
    )
    activity = models.ForeignKey(
        Activity, on_delete=models.CASCADE, related_name="participants", verbose_name=_("activity")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ENROLLED)
    paid = models.BooleanField(_("paid"), default=False)
    notes = models.TextField(
        _("notes"), blank=True, help_text=_("For the organisers only; never shown in the API.")
    )
    enrolled_at = models.DateTimeField(_("enrolled at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        ordering = ("activity", "enrolled_at", "pk")
        constraints = [
            models.UniqueConstraint(fields=["member", "activity"], name="participant_once_per_activity"),
        ]
        indexes = [
            models.Index(fields=["activity", "status", "enrolled_at"], name="participant_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.member} in {self.activity.name} ({self.get_status_display()})"
