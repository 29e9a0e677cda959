import logging

from allauth.account.signals import password_reset, user_logged_in, user_logged_out
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

logger = logging.getLogger(__name__)


@receiver(password_reset)
def mark_email_verified_on_password_reset(sender, request, user, **kwargs) -> None:
    """Completing a reset by email link proves the member reads that mailbox (OIDC email_verified)."""
    if not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified", "updated_at"])


@receiver(user_logged_in)
def log_login(sender, request, user, **kwargs) -> None:
    logger.info("login.succeeded user=%s", user.public_id)


@receiver(user_logged_out)
def log_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        logger.info("logout user=%s", user.public_id)


@receiver(user_login_failed)
def log_login_failure(sender, credentials, request=None, **kwargs) -> None:
    # credentials holds the password: log nothing from it.
    logger.info("login.failed")
