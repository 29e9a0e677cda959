"""Admin for Latch's own OAuth models (DOT's swapped ones are in admin_classes.py, registered by DOT)."""

from django.contrib import admin

from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.oauth.forms import TokenExchangePolicyForm
from apps.oauth.models import TokenExchangePolicy


@admin.register(TokenExchangePolicy)
class TokenExchangePolicyAdmin(admin.ModelAdmin):
    """Which service may trade members' tokens for which audiences and scopes (RFC 8693)."""

    form = TokenExchangePolicyForm
    list_display = ("client", "enabled", "audience_list", "scope_list", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("client__name", "client__client_id")
    autocomplete_fields = ("client",)
    filter_horizontal = ("subject_clients",)

    @admin.display(description="audiences")
    def audience_list(self, obj: TokenExchangePolicy) -> str:
        return " ".join(obj.audiences)

    @admin.display(description="scopes")
    def scope_list(self, obj: TokenExchangePolicy) -> str:
        return " ".join(obj.scopes)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        policy = form.instance
        # What the client may now do with members' tokens, after the subject clients are saved.
        record(
            AuditEvent.Event.APPLICATION_CHANGED,
            request=request,
            user=request.user,
            actor_type=AuditEvent.ActorType.ADMIN,
            client_id=policy.client.client_id,
            fields=["token_exchange_policy"],
            exchange_policy={
                "enabled": policy.enabled,
                "audiences": policy.audiences,
                "scopes": policy.scopes,
                "served_audiences": policy.served_audiences,
                "subject_clients": sorted(policy.subject_clients.values_list("client_id", flat=True)),
            },
        )
