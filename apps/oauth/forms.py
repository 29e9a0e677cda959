from django import forms
from django.core.exceptions import ValidationError
from oauth2_provider.forms import AllowForm

from apps.oauth.models import Application, TokenExchangePolicy
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
            "require_dpop",
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


class LinesField(forms.CharField):
    """A list of strings, one per line, in a textarea (blank lines dropped, each kept once)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:  # type: ignore[override]
        lines = (line.strip() for line in (super().to_python(value) or "").splitlines())
        return list(dict.fromkeys(line for line in lines if line))


class TokenExchangePolicyForm(forms.ModelForm):
    """The admin's token exchange policy: scopes as checkboxes, audiences one per line."""

    scopes = forms.MultipleChoiceField(
        choices=scope_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=TokenExchangePolicy._meta.get_field("scopes").help_text,
    )
    audiences = LinesField(
        required=False, help_text=TokenExchangePolicy._meta.get_field("audiences").help_text
    )
    served_audiences = LinesField(
        required=False, help_text=TokenExchangePolicy._meta.get_field("served_audiences").help_text
    )

    class Meta:
        model = TokenExchangePolicy
        fields = ("client", "enabled", "audiences", "scopes", "served_audiences", "subject_clients")


# What DOT's consent form carries in hidden fields; Latch's form never does (ConsentForm).
AUTHORIZATION_PARAMETERS = frozenset(AllowForm.base_fields) - {"allow"}


class ConsentForm(forms.Form):
    """The consent page's form: Allow (or Deny, without `allow`) for the request the page showed.

    Its one hidden field is the id under which that request, as oauthlib validated it, waits in the
    session (apps/oauth/pending_consent.py). A post carrying authorization parameters of its own
    was not made from the page Latch rendered: it is refused, not ignored.
    """

    allow = forms.BooleanField(required=False)
    consent_request = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean(self):
        if AUTHORIZATION_PARAMETERS & set(self.data):
            raise ValidationError("The consent form was changed after it was shown.")
        return super().clean()
