"""Upstream providers, members' identities and connections, and what applications require, in the admin.

No page ever shows a secret: the provider's client secret is a write-only password field, and
connections are listed without their tokens. Identities and connections are read-only here; a
connection is only ever revoked (its tokens deleted), through the action.
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from apps.upstream import services
from apps.upstream.discovery import DiscoveryError, provider_discover
from apps.upstream.forms import ApplicationUpstreamRequirementForm, UpstreamProviderForm
from apps.upstream.models import (
    ENDPOINT_FIELDS,
    ApplicationUpstreamRequirement,
    Connection,
    UpstreamIdentity,
    UpstreamProvider,
)
from apps.upstream.selectors import blocked_requirements, client_secret_status

FORM_ONLY_FIELDS = ("new_client_secret", "rediscover")


def _actor(request: HttpRequest) -> services.Actor:
    return services.Actor(request=request, user=request.user)


@admin.register(UpstreamProvider)
class UpstreamProviderAdmin(admin.ModelAdmin):
    form = UpstreamProviderForm
    list_display = (
        "name",
        "slug",
        "enabled",
        "allow_sign_in",
        "source",
        "token_endpoint_auth_method",
        "updated",
    )
    list_filter = ("enabled", "allow_sign_in")
    search_fields = ("slug", "name", "issuer", "client_id")
    readonly_fields = ("client_secret_status", "discovered_at", "created", "updated")
    actions = ("rediscover",)
    fieldsets = (
        (None, {"fields": ("slug", "name", "icon_url", "enabled", "allow_sign_in", "trust_email")}),
        (
            "Endpoints",
            {
                "fields": ("discovery_url", "rediscover", "discovered_at", *ENDPOINT_FIELDS),
                "description": "A discovery URL fills in the endpoints; without one, give at least the "
                "authorization and token endpoints.",
            },
        ),
        (
            "Client registration at the provider",
            {
                "fields": (
                    "client_id",
                    "client_secret_status",
                    "new_client_secret",
                    "token_endpoint_auth_method",
                    "grant_types",
                    "use_pkce",
                )
            },
        ),
        ("Scopes", {"fields": ("default_scopes", "available_scopes", "tokens_may_exceed_scopes")}),
        ("History", {"fields": ("created", "updated"), "classes": ("collapse",)}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: UpstreamProvider | None = None) -> Any:
        # The slug is the primary key, and the encrypted secret is bound to it.
        return (*self.readonly_fields, "slug") if obj else self.readonly_fields

    @admin.display(description="endpoints from")
    def source(self, obj: UpstreamProvider) -> str:
        return "discovery" if obj.discovery_url else "configured"

    @admin.display(description="client secret")
    def client_secret_status(self, obj: UpstreamProvider) -> str:
        return client_secret_status(obj)

    def save_model(self, request: HttpRequest, obj: UpstreamProvider, form: Any, change: bool) -> None:
        services.provider_save(
            provider=obj,
            client_secret=form.cleaned_data.get("new_client_secret") or None,
            changed=[name for name in form.changed_data if name not in FORM_ONLY_FIELDS],
            actor=_actor(request),
        )
        for warning in form.discovery_warnings:
            self.message_user(request, warning, messages.WARNING)
        self._warn_if_blocking(request, obj)

    def _warn_if_blocking(self, request: HttpRequest, provider: UpstreamProvider) -> None:
        if blocked := blocked_requirements(provider):
            names = ", ".join(sorted(str(requirement.application) for requirement in blocked))
            self.message_user(
                request,
                f"{provider.name} is disabled, and these applications cannot work without it: {names}.",
                messages.WARNING,
            )

    def delete_model(self, request: HttpRequest, obj: UpstreamProvider) -> None:
        # The delete page already refuses while requirements protect the provider (PROTECT).
        services.provider_remove(provider=obj, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[UpstreamProvider]) -> None:
        for provider in queryset:
            services.provider_remove(provider=provider, actor=_actor(request))

    @admin.action(description="Fetch the discovery document again", permissions=["change"])
    def rediscover(self, request: HttpRequest, queryset: QuerySet[UpstreamProvider]) -> None:
        for provider in queryset:
            if not provider.discovery_url:
                self.message_user(request, f"{provider.name}: no discovery URL.", messages.WARNING)
                continue
            before = {name: getattr(provider, name) for name in ENDPOINT_FIELDS}
            try:
                warnings = provider_discover(provider)
                services.provider_save(
                    provider=provider,
                    client_secret=None,
                    changed=[name for name in ENDPOINT_FIELDS if getattr(provider, name) != before[name]],
                    actor=_actor(request),
                )
            except (DiscoveryError, ValidationError) as exc:
                self.message_user(
                    request, f"{provider.name}: {_message(exc)} Nothing changed.", messages.ERROR
                )
                continue
            self.message_user(request, f"{provider.name}: endpoints discovered again.")
            for warning in warnings:
                self.message_user(request, warning, messages.WARNING)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UpstreamIdentity)
class UpstreamIdentityAdmin(ReadOnlyAdmin):
    list_display = ("user", "provider", "subject", "created", "last_used_at")
    list_filter = ("provider",)
    search_fields = ("user__email", "subject")
    fields = ("user", "provider", "subject", "created", "last_used_at")
    readonly_fields = fields


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    """Connections without their tokens: neither the list nor the page has a field that holds one."""

    list_display = ("user", "provider", "status", "granted_scopes", "expires_at", "last_used_at")
    list_filter = ("status", "provider")
    search_fields = ("user__email",)
    fields = (
        "user",
        "provider",
        "account",
        "subject",
        "status",
        "granted_scopes",
        "token_type",
        "expires_at",
        "last_refreshed_at",
        "refreshing_until",
        "last_used_at",
        "created",
        "updated",
    )
    readonly_fields = fields
    actions = ("revoke",)

    @admin.display(description="scopes")
    def granted_scopes(self, obj: Connection) -> str:
        return " ".join(obj.scopes)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("upstream.change_connection")

    @admin.action(
        description="Revoke: delete the stored tokens (revoking them at the provider where it can)",
        permissions=["revoke"],
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        revoked = 0
        for connection in queryset.select_related("provider", "user"):
            outcome = services.connection_revoke(connection=connection, actor=_actor(request))
            if outcome.revoked:
                revoked += 1
                self.message_user(request, f"{connection}: {outcome.upstream}.")
        self.message_user(
            request,
            ngettext("Revoked %d connection.", "Revoked %d connections.", revoked) % revoked,
        )


@admin.register(ApplicationUpstreamRequirement)
class ApplicationUpstreamRequirementAdmin(admin.ModelAdmin):
    """What each application needs from upstream providers; `status` names requirements left unmet."""

    form = ApplicationUpstreamRequirementForm
    list_display = ("application", "provider", "required_scopes", "on_missing", "status")
    list_filter = ("provider", "on_missing")
    list_select_related = ("application", "provider")
    readonly_fields = ("status", "created", "updated")
    fields = ("application", "provider", "scopes", "on_missing", "status", "created", "updated")

    @admin.display(description="scopes")
    def required_scopes(self, obj: ApplicationUpstreamRequirement) -> str:
        return " ".join(obj.scopes)

    @admin.display(description="status")
    def status(self, obj: ApplicationUpstreamRequirement) -> str:
        if obj.pk is None:
            return "-"
        return obj.problem or "OK"
