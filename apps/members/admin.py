from django.contrib import admin

from apps.members.models import Member


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("last_name", "first_name", "email", "status", "member_since", "user")
    list_filter = ("status", "member_since")
    search_fields = ("first_name", "last_name", "email", "public_id")
    raw_id_fields = ("user",)
    readonly_fields = ("public_id", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("public_id", "first_name", "last_name", "email", "user")}),
        ("Membership", {"fields": ("status", "member_since")}),
        ("Private", {"fields": ("birth_date", "phone", "street", "postal_code", "city")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )
