"""The audit log in the admin: to read, filter and search; nobody can add, change or delete a row."""

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("time", "event", "actor_type", "actor_label", "client_id", "ip", "summary")
    list_filter = ("event", "actor_type", "time")
    search_fields = ("actor_label", "client_id", "ip")
    date_hierarchy = "time"
    ordering = ("-time", "-pk")
    # A COUNT(*) of the whole table on every page is the slow part of a large log.
    show_full_result_count = False
    fields = (
        "time",
        "event",
        "actor_type",
        "actor_user",
        "actor_label",
        "client_id",
        "ip",
        "details_display",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    @admin.display(description=_("details"))
    def summary(self, obj: AuditEvent) -> str:
        text = ", ".join(
            f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in obj.details.items()
        )
        return text if len(text) <= 100 else f"{text[:99]}…"

    @admin.display(description=_("details"))
    def details_display(self, obj: AuditEvent) -> str:
        pretty = json.dumps(obj.details, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", pretty)
