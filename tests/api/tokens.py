"""Access tokens for API tests, made the way Latch stores them (only their digest is kept)."""

import secrets
from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import set_token_value

from apps.oauth.models import AccessToken
from tests.oauth.factories import ApplicationFactory, service_application


def issue_token(scope: str, user=None, application=None, expires_in: int = 3600) -> str:
    """A raw bearer token: a member's token when `user` is given, otherwise an app token."""
    if application is None:
        application = ApplicationFactory() if user is not None else service_application()
    raw = secrets.token_urlsafe(30)
    token = AccessToken(
        user=user,
        application=application,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=expires_in),
    )
    set_token_value(token, raw)
    token.save()
    return raw


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
