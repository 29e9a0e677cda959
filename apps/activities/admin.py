from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.activities import services
from apps.activities.models import Activity, Participant


class ParticipantInline(admin.TabularInline):
    model = Participant
    fields = ("member", "status", "paid", "notes", "enrolled_at")
    readonly_fields = ("enrolled_at",)
    autocomplete_fields = ("member",)
    extra = 0
    ordering = ("status", "enrolled_at", "pk")


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("name", "starts_at", "location", "published", "enrolled", "waiting", "participant_limit")
    list_filter = ("published", "starts_at")
    search_fields = ("name", "location", "description")
    date_hierarchy = "starts_at"
    readonly_fields = ("created_at", "updated_at")
    inlines = (ParticipantInline,)
    fieldsets = (
        (None, {"fields": ("name", "description", "location", "published")}),
        (_("When"), {"fields": ("starts_at", "ends_at")}),
        (
            _("Registration"),
            {
                "fields": (
                    "price_cents",
                    "participant_limit",
                    "waiting_list_limit",
                    "registration_opens_at",
                    "registration_closes_at",
                )
            },
        ),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Activity]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                enrolled_count=Count(
                    "participants", filter=Q(participants__status=Participant.Status.ENROLLED)
                ),
                waiting_count=Count(
                    "participants", filter=Q(participants__status=Participant.Status.WAITING)
                ),
            )
        )

    @admin.display(description=_("enrolled"), ordering="enrolled_count")
    def enrolled(self, activity: Activity) -> int:
        return activity.enrolled_count  # type: ignore[attr-defined]

    @admin.display(description=_("waiting"), ordering="waiting_count")
    def waiting(self, activity: Activity) -> int:
        return activity.waiting_count  # type: ignore[attr-defined]

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # A raised limit or a participant deleted inline frees places: nobody waits for a free place.
        promoted = services.waiting_list_promote(form.instance)
        if promoted:
            names = ", ".join(str(participant.member) for participant in promoted)
            self.message_user(request, _("Promoted from the waiting list: %s.") % names, messages.INFO)


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("member", "activity", "status", "paid", "enrolled_at")
    list_filter = ("status", "paid", "activity__starts_at")
    search_fields = ("member__first_name", "member__last_name", "member__email", "activity__name")
    autocomplete_fields = ("member", "activity")
    readonly_fields = ("enrolled_at",)
    list_select_related = ("member", "activity")
    actions = ("remove_and_promote",)

    # Every deletion here (the delete page, "delete selected", the action below) goes through the
    # service, so the waiting list moves up instead of leaving free places behind.
    def delete_model(self, request: HttpRequest, obj: Participant) -> None:
        services.participant_remove(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        for participant in queryset.select_related("activity"):
            services.participant_remove(participant)

    @admin.action(
        description=_("Remove selected participants (promote the waiting list)"), permissions=["delete"]
    )
    def remove_and_promote(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        count = queryset.count()
        self.delete_queryset(request, queryset)
        self.message_user(request, _("Removed %d participants; the waiting lists moved up.") % count)
