from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from apps.members.models import Member


class Group(models.Model):
    """A board, committee, society or year of the association."""

    class Kind(models.TextChoices):
        BOARD = "board", _("Board")
        COMMITTEE = "committee", _("Committee")
        SOCIETY = "society", _("Society")
        YEAR = "year", _("Year")

    name = models.CharField(_("name"), max_length=150, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        # "Board" and "board" would be the same group to every member.
        constraints = [models.UniqueConstraint(Lower("name"), name="group_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class GroupMembership(models.Model):
    """One member in one group with one role, for a period.

    History is kept: a role change ends this row and starts a new one (see services.change_role).
    A membership is current while `ended` is empty.
    """

    DEFAULT_ROLE = "member"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="group_memberships")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(
        _("role"), max_length=50, default=DEFAULT_ROLE, help_text=_('For example "chair" or "treasurer".')
    )
    started = models.DateField(_("started"), default=timezone.localdate)
    ended = models.DateField(_("ended"), null=True, blank=True, help_text=_("Empty while it is current."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("group__name", "-started", "-pk")
        constraints = [
            models.CheckConstraint(
                condition=Q(ended__isnull=True) | Q(ended__gte=F("started")),
                name="group_membership_ended_after_started",
                violation_error_message=_("A membership cannot end before it started."),
            ),
            models.UniqueConstraint(
                fields=["member", "group"],
                condition=Q(ended__isnull=True),
                name="group_membership_one_current",
                violation_error_message=_("This member already has a current membership of this group."),
            ),
        ]
        indexes = [
            # The current members of a group (group detail, member counts).
            models.Index(fields=["group"], condition=Q(ended__isnull=True), name="group_membership_current"),
        ]

    def __str__(self) -> str:
        return f"{self.member}, {self.role} of {self.group}"

    @property
    def is_current(self) -> bool:
        return self.ended is None

    def clean(self) -> None:
        # Current means "ended is empty", so dates after today would make that a lie.
        today = timezone.localdate()
        errors: dict[str, str | Promise] = {}
        if self.started and self.started > today:
            errors["started"] = _("A membership cannot start in the future.")
        if self.ended and self.ended > today:
            errors["ended"] = _("A membership cannot end in the future.")
        elif self.ended and self.started and self.ended < self.started:
            errors["ended"] = _("A membership cannot end before it started.")
        if errors:
            raise ValidationError(errors)
