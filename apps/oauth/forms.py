from django import forms

from apps.oauth.models import Application
from apps.oauth.scopes import SCOPES


def scope_choices() -> list[tuple[str, str]]:
    return [(name, f"{name} — {scope.description}") for name, scope in SCOPES.items()]


class ApplicationAdminForm(forms.ModelForm):
    """The admin's application form: scopes as checkboxes, and no client secret field at all.

    Latch generates secrets itself and shows them once (see ApplicationAdmin.response_add).
    """

    allowed_scopes = forms.MultipleChoiceField(
        choices=scope_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The only scopes this application may ever receive.",
    )

    class Meta:
        model = Application
        fields = (
            "name",
            "description",
            "homepage_url",
            "logo_url",
            "client_type",
            "authorization_grant_type",
            "redirect_uris",
            "post_logout_redirect_uris",
            "allowed_origins",
            "allowed_scopes",
            "skip_authorization",
            "pkce_optional",
            "is_resource_server",
            "user",
        )
        widgets = {
            "redirect_uris": forms.Textarea(attrs={"rows": 3}),
            "post_logout_redirect_uris": forms.Textarea(attrs={"rows": 2}),
            "allowed_origins": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "redirect_uris": "Exact URIs, one per line; a redirect must match one of them exactly.",
            "skip_authorization": "First-party app: members are not asked for consent.",
        }
