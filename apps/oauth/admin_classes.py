"""Admin classes for the swapped DOT models, registered by DOT through its *_ADMIN_CLASS settings.

Kept out of `apps/oauth/admin.py` on purpose: DOT's admin module imports these classes while it is
itself being imported, so this module must be importable without triggering Django's autodiscovery
of our own admin module first.
"""

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import ngettext
from oauth2_provider import admin as dot_admin

from apps.audit.models import AuditEvent
from apps.audit.services import application_details, record
from apps.oauth import services
from apps.oauth.forms import ApplicationAdminForm
from apps.oauth.models import Application


def shown_once_page(request: HttpRequest, template: str, title: str, opts, **context) -> HttpResponse:
    """An admin page showing a secret for the only time; it must not be cached anywhere."""
    response = TemplateResponse(
        request,
        template,
        {
            "title": title,
            "opts": opts,
            "site_header": admin.site.site_header,
            "has_permission": True,
            **context,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


def credentials_page(request: HttpRequest, credentials: list[tuple[Application, str | None]]) -> HttpResponse:
    """The one page that ever shows a client secret."""
    return shown_once_page(
        request,
        "admin/oauth/application/credentials.html",
        "Client credentials",
        Application._meta,
        credentials=credentials,
    )


# Switches that weaken, widen or harden what an application may do: a change records old and new.
AUDITED_SWITCHES = ("pkce_optional", "is_resource_server", "require_dpop")


class ApplicationAdmin(dot_admin.ApplicationAdmin):
    form = ApplicationAdminForm
    list_display = ("name", "client_id", "client_type", "authorization_grant_type", "scopes", "created")
    search_fields = ("name", "client_id")
    readonly_fields = ("client_id", "created", "updated")
    actions = ("new_client_secret",)
    fieldsets = (
        (None, {"fields": ("name", "client_id", "description", "homepage_url", "logo_url")}),
        (
            "OAuth",
            {
                "fields": (
                    "client_type",
                    "authorization_grant_type",
                    "redirect_uris",
                    "post_logout_redirect_uris",
                    "allowed_origins",
                    "pkce_optional",
                    "require_dpop",
                    "require_pushed_authorization_requests",
                )
            },
        ),
        ("Scopes and consent", {"fields": ("allowed_scopes", "skip_authorization", "is_resource_server")}),
        ("Access tokens", {"fields": ("access_token_format", "access_token_lifetime")}),
        ("Client authentication", {"fields": ("token_endpoint_auth_method", "jwks", "jwks_uri")}),
        (
            "Back-channel logout",
            {"fields": ("backchannel_logout_uri", "backchannel_logout_session_required")},
        ),
        ("Ownership", {"fields": ("user", "created", "updated"), "classes": ("collapse",)}),
    )

    @admin.display(description="allowed scopes")
    def scopes(self, obj: Application) -> str:
        return " ".join(obj.allowed_scopes)

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            # A private_key_jwt app authenticates with its keys only: a secret would be refused anyway.
            has_secret = (
                obj.client_type == Application.CLIENT_CONFIDENTIAL
                and obj.token_endpoint_auth_method != "private_key_jwt"
            )
            secret = services.new_client_secret() if has_secret else None
            obj.client_secret = secret or ""
            obj.hash_client_secret = secret is not None
            request._latch_new_secret = secret  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)
        if not change:
            self.audit(request, AuditEvent.Event.APPLICATION_CREATED, obj, **application_details(obj))
        elif form.changed_data:
            details: dict = {
                "fields": list(form.changed_data),
                "allowed_scopes": {"old": form.initial.get("allowed_scopes", []), "new": obj.allowed_scopes},
            }
            if "redirect_uris" in form.changed_data:
                old_uris = form.initial.get("redirect_uris") or ""
                details["redirect_uris"] = {"old": old_uris.split(), "new": obj.redirect_uris.split()}
            for switch in AUDITED_SWITCHES:
                if switch in form.changed_data:
                    details[switch] = {"old": bool(form.initial.get(switch)), "new": getattr(obj, switch)}
            self.audit(request, AuditEvent.Event.APPLICATION_CHANGED, obj, **details)

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)  # obj keeps its client_id and name, only its pk goes
        self.audit(request, AuditEvent.Event.APPLICATION_DELETED, obj, name=obj.name)

    def delete_queryset(self, request, queryset) -> None:
        deleted = list(queryset)
        super().delete_queryset(request, queryset)
        for obj in deleted:
            self.audit(request, AuditEvent.Event.APPLICATION_DELETED, obj, name=obj.name)

    @staticmethod
    def audit(request, event: AuditEvent.Event, application: Application, **details) -> None:
        """An administrator did this to the application (never pass its secret; record() drops it)."""
        record(
            event,
            request=request,
            user=request.user,
            actor_type=AuditEvent.ActorType.ADMIN,
            client_id=application.client_id,
            **details,
        )

    def response_add(self, request, obj, post_url_continue=None):
        return credentials_page(request, [(obj, getattr(request, "_latch_new_secret", None))])

    @admin.action(description="Generate a new client secret (the old one stops working)")
    def new_client_secret(self, request, queryset):
        confidential = [
            app
            for app in queryset
            if app.client_type == Application.CLIENT_CONFIDENTIAL
            and app.token_endpoint_auth_method != "private_key_jwt"
        ]
        if not confidential:
            self.message_user(
                request, "Public and private_key_jwt applications have no client secret.", messages.WARNING
            )
            return None
        credentials: list[tuple[Application, str | None]] = []
        for app in confidential:
            credentials.append((app, services.rotate_client_secret(app)))
            self.audit(request, AuditEvent.Event.CLIENT_SECRET_ROTATED, app, name=app.name)
        return credentials_page(request, credentials)


@admin.display(description="token")
def prefix(token) -> str:
    """The first characters, to recognise a token a member reports; the rest is never stored."""
    if getattr(token, "jti", ""):
        return f"JWT jti {token.jti[:8]}…"  # every JWT starts "eyJ": its jti tells them apart
    return f"{token.token_prefix}…" if token.token_prefix else "—"


class AccessTokenAdmin(dot_admin.AccessTokenAdmin):
    list_display = ("pk", prefix, "user", "application", "scope", "created", "expires")
    list_filter = ("application", "created")
    date_hierarchy = "created"
    readonly_fields = (
        prefix,
        "user",
        "application",
        "scope",
        "expires",
        "token_family",
        "id_token",
        "source_refresh_token",
        "resource",
        "jti",
        "issued_by_exchange",
        "actor",
    )
    exclude = ("token", "token_checksum", "token_prefix")


class RefreshTokenAdmin(dot_admin.RefreshTokenAdmin):
    list_display = ("pk", prefix, "user", "application", "scope", "created", "revoked")
    list_filter = ("application", "revoked")
    readonly_fields = (
        prefix,
        "user",
        "application",
        "scope",
        "access_token",
        "token_family",
        "revoked",
        "resource",
    )
    exclude = ("token", "token_checksum", "token_prefix")


class GrantAdmin(dot_admin.GrantAdmin):
    list_display = ("pk", "application", "user", "created", "expires", "redeemed_at")
    readonly_fields = (
        "user",
        "application",
        "redirect_uri",
        "scope",
        "expires",
        "redeemed_at",
        "token_family",
    )
    exclude = ("code", "code_challenge", "code_challenge_method", "nonce", "claims", "resource")
    actions = ("revoke_codes",)

    @admin.action(description="Revoke selected authorization codes and the tokens issued from them")
    def revoke_codes(self, request, queryset):
        from apps.oauth.models import RefreshToken

        revoked = 0
        for grant in queryset:
            RefreshToken.revoke_family(grant.token_family)
            grant.delete()
            revoked += 1
        self.message_user(
            request,
            ngettext("Revoked %d authorization code.", "Revoked %d authorization codes.", revoked) % revoked,
        )


class IDTokenAdmin(dot_admin.IDTokenAdmin):
    list_display = ("jti", "user", "application", "created", "expires")
    readonly_fields = ("jti", "user", "application", "scope", "expires")
