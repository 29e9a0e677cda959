from allauth.account.signals import password_reset
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.dispatch import receiver

from apps.accounts import services
from apps.accounts.models import UserManager
from apps.audit.models import AuditEvent
from apps.audit.services import record


@receiver(password_reset)
def mark_email_verified_on_password_reset(sender, request, user, **kwargs) -> None:
    """Completing a reset by email link proves the member reads that mailbox (OIDC email_verified)."""
    if not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified", "updated_at"])


# Django's signal rather than allauth's: allauth sends both on its own sign-ins, and only Django's
# covers the admin's login page too. Either way, one row per sign-in.
@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs) -> None:
    record(AuditEvent.Event.LOGIN_SUCCEEDED, request=request, user=user)


@receiver(user_logged_in)
def remember_signed_in_browser(sender, request, user, **kwargs) -> None:
    """Where and when this browser signed in, for the member's list of signed-in browsers."""
    if request is not None and hasattr(request, "session"):
        services.note_sign_in(request)


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        record(AuditEvent.Event.LOGOUT, request=request, user=user)


def attempted_email(credentials: dict) -> str:
    """The login name tried, only if it is an email address: it may be a password typed in the wrong field.

    Django has already replaced the password itself with stars.
    """
    login = credentials.get("email") or credentials.get("username")
    email = UserManager.normalize_email(login if isinstance(login, str) else "")
    try:
        validate_email(email)
    except ValidationError:
        return ""
    return email


@receiver(user_login_failed)
def audit_login_failure(sender, credentials, request=None, **kwargs) -> None:
    record(AuditEvent.Event.LOGIN_FAILED, request=request, actor_label=attempted_email(credentials))
