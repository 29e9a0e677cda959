"""Initial access tokens are issued here (shown once, like a client secret) and revoked.

Registrations are listed for reading; they are changed by their clients (RFC 7592).
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import ngettext

from apps.oauth.admin_classes import shown_once_page
from apps.oauth.forms import scope_choices
from apps.registration import services
from apps.registration.models import ClientRegistration, InitialAccessToken


def in_a_week():
    return timezone.now() + timedelta(days=7)


class InitialAccessTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=scope_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The most a client registered with this token may ever be allowed.",
    )
    expires = forms.DateTimeField(initial=in_a_week)

    class Meta:
        model = InitialAccessToken
        fields = ("description", "scopes", "expires", "max_uses")

    def clean_expires(self):
        expires = self.cleaned_data["expires"]
        if expires <= timezone.now():
            raise ValidationError("The expiry must be in the future.")
        return expires

    def clean_max_uses(self):
        max_uses = self.cleaned_data["max_uses"]
        if max_uses < 1:
            raise ValidationError("At least one registration.")
        return max_uses


@admin.register(InitialAccessToken)
class InitialAccessTokenAdmin(admin.ModelAdmin):
    form = InitialAccessTokenForm
    list_display = ("prefix", "description", "allowed_scopes", "uses", "max_uses", "expires", "revoked")
    list_filter = ("revoked",)
    search_fields = ("token_prefix", "description")
    actions = ("revoke_tokens",)
    readonly_fields = ("token_prefix", "uses", "revoked", "created_by", "created")

    @admin.display(description="token")
    def prefix(self, obj: InitialAccessToken) -> str:
        return f"{obj.token_prefix}…"

    @admin.display(description="allowed scopes")
    def allowed_scopes(self, obj: InitialAccessToken) -> str:
        return " ".join(obj.scopes)

    def get_readonly_fields(self, request, obj=None):
        # Issued is issued: what a token allows never changes after someone may hold it.
        if obj is not None:
            return (*self.readonly_fields, "description", "scopes", "expires", "max_uses")
        return self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        obj.created_by = request.user
        request._latch_new_token = services.initial_token_issue(obj, request=request)  # type: ignore[attr-defined]

    def response_add(self, request, obj, post_url_continue=None):
        return issued_page(request, obj, request._latch_new_token)

    @admin.action(description="Revoke selected tokens (clients they registered stay)")
    def revoke_tokens(self, request, queryset):
        revoked = sum(
            services.initial_token_revoke(token, request=request, user=request.user) for token in queryset
        )
        self.message_user(
            request,
            ngettext("Revoked %d token.", "Revoked %d tokens.", revoked) % revoked,
            messages.SUCCESS if revoked else messages.WARNING,
        )


def issued_page(request: HttpRequest, token: InitialAccessToken, value: str) -> HttpResponse:
    """The one page that ever shows an initial access token."""
    return shown_once_page(
        request,
        "admin/registration/initialaccesstoken/issued.html",
        "Initial access token",
        InitialAccessToken._meta,
        token=token,
        value=value,
    )


@admin.register(ClientRegistration)
class ClientRegistrationAdmin(admin.ModelAdmin):
    """Registrations are made by clients; an administrator reads them, or deletes the application."""

    list_display = ("application", "prefix", "ceiling", "initial_access_token", "created", "updated")
    search_fields = ("application__name", "application__client_id")
    readonly_fields = (
        "application",
        "token_prefix",
        "scope_ceiling",
        "initial_access_token",
        "contacts",
        "created",
    )
    exclude = ("registration_access_token",)

    @admin.display(description="registration access token")
    def prefix(self, obj: ClientRegistration) -> str:
        return f"{obj.token_prefix}…"

    @admin.display(description="scope ceiling")
    def ceiling(self, obj: ClientRegistration) -> str:
        return " ".join(obj.scope_ceiling)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
