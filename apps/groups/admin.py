from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException

from apps.groups import services
from apps.groups.models import Group, GroupMembership

# History is kept: once saved, who held a role from when stays as it was. Editing the role of a
# current membership goes through services.change_role (it ends this row and starts a new one).
FIXED_ONCE_SAVED = ("member", "group", "started")


class GroupMembershipForm(forms.ModelForm):
    class Meta:
        model = GroupMembership
        fields = ("member", "group", "role", "started", "ended")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        fixed = FIXED_ONCE_SAVED if self.instance.ended is None else (*FIXED_ONCE_SAVED, "role")
        for name in fixed:
            if name in self.fields:
                self.fields[name].disabled = True

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.changes_role and self.cleaned_data.get("ended"):
            raise ValidationError(_("Change the role or end the membership, not both at once."))
        return cleaned

    @property
    def changes_role(self) -> bool:
        return self.instance.pk is not None and "role" in self.changed_data


class GroupMembershipFormSet(forms.BaseInlineFormSet):
    def save_existing(self, form, obj, commit=True):
        if form.changes_role:
            return services.change_role(obj, form.cleaned_data["role"])
        return super().save_existing(form, obj, commit=commit)

    def clean(self) -> None:
        """Two new rows for one member would pass each form's checks and then break the constraint."""
        super().clean()
        current: set[int] = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("ended") or data.get("member") is None:
                continue
            if data["member"].pk in current:
                raise ValidationError(_("%(member)s has more than one current membership.") % data)
            current.add(data["member"].pk)


class GroupMembershipInline(admin.TabularInline):
    model = GroupMembership
    form = GroupMembershipForm
    formset = GroupMembershipFormSet
    fields = ("member", "role", "started", "ended")
    autocomplete_fields = ("member",)
    extra = 0
    # Current memberships first, on every database (PostgreSQL sorts NULL last, SQLite first).
    ordering = (F("ended").desc(nulls_first=True), "member__last_name", "member__first_name")


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "current_members", "updated_at")
    list_filter = ("kind",)
    search_fields = ("name", "description")
    readonly_fields = ("created_at", "updated_at")
    inlines = (GroupMembershipInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return (
            super()
            .get_queryset(request)
            .annotate(current_count=Count("memberships", filter=Q(memberships__ended__isnull=True)))
        )

    @admin.display(description=_("current members"), ordering="current_count")
    def current_members(self, group: Group) -> int:
        return group.current_count  # type: ignore[attr-defined]


class CurrentFilter(admin.SimpleListFilter):
    title = _("current or ended")
    parameter_name = "current"

    def lookups(self, request, model_admin):
        return (("yes", _("Current")), ("no", _("Ended")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(ended__isnull=True)
        if self.value() == "no":
            return queryset.filter(ended__isnull=False)
        return queryset


@admin.register(GroupMembership)
class GroupMembershipAdmin(admin.ModelAdmin):
    form = GroupMembershipForm
    list_display = ("member", "group", "role", "started", "ended")
    list_filter = (CurrentFilter, "group__kind", "group")
    list_select_related = ("member", "group")
    search_fields = ("member__first_name", "member__last_name", "group__name", "role")
    autocomplete_fields = ("member", "group")
    date_hierarchy = "started"
    actions = ("end_today",)

    def save_model(self, request, obj, form, change) -> None:
        if form.changes_role:
            services.change_role(obj, form.cleaned_data["role"])
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description=_("End the selected memberships today"))
    def end_today(self, request: HttpRequest, queryset: QuerySet[GroupMembership]) -> None:
        ended = 0
        for membership in queryset.filter(ended__isnull=True):
            try:
                services.end_membership(membership)
            except APIException as exc:
                self.message_user(request, f"{membership}: {exc.detail}", messages.ERROR)
            else:
                ended += 1
        self.message_user(request, _("%(count)d memberships ended.") % {"count": ended}, messages.SUCCESS)
