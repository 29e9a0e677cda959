from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.upstream.discovery import DiscoveryError, provider_discover
from apps.upstream.models import ENDPOINT_FIELDS, ApplicationUpstreamRequirement, UpstreamProvider


class ScopeListField(forms.Field):
    """A JSON list of scope names, edited as one space-separated line."""

    widget = forms.TextInput

    def prepare_value(self, value: Any) -> Any:
        return " ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        return list(dict.fromkeys(str(value or "").split()))


class UpstreamProviderForm(forms.ModelForm):
    """The provider form. The client secret is write-only: typed in, sealed, never rendered again.

    With a discovery URL, saving fetches the provider's configuration and fills in the endpoints
    (the issuer, too, unless the discovery URL does not end in /.well-known/openid-configuration);
    if that fails, the form shows why and nothing is saved.
    """

    new_client_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave blank to keep the current secret.",
    )
    grant_types = forms.MultipleChoiceField(
        choices=UpstreamProvider.GrantType.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(UpstreamProvider.GrantType.values),
    )
    default_scopes = ScopeListField(
        required=False, help_text="Space-separated; asked for on every sign-in or connect."
    )
    rediscover = forms.BooleanField(
        label="Fetch the discovery document again",
        required=False,
        help_text="Done anyway when the discovery URL changes or no endpoints are known yet.",
    )

    class Meta:
        model = UpstreamProvider
        fields = (
            "slug",
            "name",
            "icon_url",
            "enabled",
            "allow_sign_in",
            "trust_email",
            "discovery_url",
            *ENDPOINT_FIELDS,
            "client_id",
            "token_endpoint_auth_method",
            "grant_types",
            "use_pkce",
            "default_scopes",
            "available_scopes",
            "tokens_may_exceed_scopes",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.discovery_warnings: list[str] = []
        if self.instance._state.adding:
            self.fields["new_client_secret"].required = True
            self.fields["new_client_secret"].help_text = "Stored encrypted and never shown again."

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        url = cleaned.get("discovery_url")
        if url and not self.errors and self._needs_discovery(cleaned):
            self.instance.discovery_url = url
            self.instance.issuer = cleaned.get("issuer") or ""
            self.instance.token_endpoint_auth_method = cleaned.get("token_endpoint_auth_method", "")
            self.instance.use_pkce = cleaned.get("use_pkce", False)
            self.instance.grant_types = cleaned.get("grant_types", [])
            try:
                self.discovery_warnings = provider_discover(self.instance)
            except DiscoveryError as exc:
                raise ValidationError({"discovery_url": str(exc)}) from exc
            for name in ENDPOINT_FIELDS:
                cleaned[name] = getattr(self.instance, name)
        return cleaned

    def _needs_discovery(self, cleaned: dict[str, Any]) -> bool:
        return (
            cleaned.get("rediscover")
            or "discovery_url" in self.changed_data
            or not (cleaned.get("authorization_endpoint") and cleaned.get("token_endpoint"))
        )


class ApplicationUpstreamRequirementForm(forms.ModelForm):
    scopes = ScopeListField(
        required=False, help_text="Space-separated, from the provider's available scopes."
    )

    class Meta:
        model = ApplicationUpstreamRequirement
        fields = ("application", "provider", "scopes", "on_missing")
