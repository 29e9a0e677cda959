from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from apps.backchannel import delivery
from apps.backchannel.models import LogoutDelivery


@admin.register(LogoutDelivery)
class LogoutDeliveryAdmin(admin.ModelAdmin):
    """Read-only: the queue is written by sign-outs and drained by `deliver_logout_tokens`."""

    list_display = (
        "pk",
        "application",
        "user",
        "reason",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
        "failed_at",
        "last_error",
    )
    list_filter = ("status", "reason", "application")
    list_select_related = ("application", "user")
    search_fields = ("application__name", "application__client_id", "user__email")
    date_hierarchy = "created_at"
    actions = ("retry_now",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Retry now (one more attempt at the next run)", permissions=["view"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[LogoutDelivery]) -> None:
        count = delivery.retry_now(queryset)
        self.message_user(
            request,
            ngettext(
                "%d logout token will be sent at the next run of deliver_logout_tokens.",
                "%d logout tokens will be sent at the next run of deliver_logout_tokens.",
                count,
            )
            % count,
            messages.SUCCESS,
        )
