"""The device authorization grant (RFC 8628): its two codes, and the services that start and answer it.

A device (a TV, a CLI, a kiosk) asks for a device code and a user code (DeviceAuthorizationView),
shows the user code, and polls the token endpoint with the device code (apps/oauth/device_token.py)
while the member types the user code at /oauth/device and answers Allow or Deny (DeviceView).

The device code is 256 random bits and stored as its SHA-256 (DeviceGrant.device_code). The user
code is 8 characters a person can type: 20^8 codes, about 34.6 bits. An unkeyed digest of so few
bits is reversed by trying every code, so it is stored as an HMAC under a key derived from
SECRET_KEY, which is not in the database: a database leak gives neither code away. A changed
SECRET_KEY makes the codes of devices waiting at that moment unknown; they ask for new ones.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from oauth2_provider.settings import oauth2_settings

from apps.oauth import consent
from apps.oauth.models import Application, DeviceGrant
from apps.oauth.tokens import random_token
from apps.oauth.validators import SignIn

# RFC 8628 §6.1: consonants only, so no code spells a word, and none of 0/O, 1/I/L-like pairs
# that a person would confuse (no vowels, no digits).
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
# Typed with or without the dash, in any case, with spaces around the groups (RFC 8628 §6.1).
USER_CODE_IGNORED = str.maketrans("", "", "- \t")
# Names the key salted_hmac derives from SECRET_KEY for user codes, and for nothing else.
USER_CODE_KEY_SALT = "latch.oauth.device.user_code"
# A new user code that collides with a stored one is drawn again; 20^8 codes make one retry rare.
USER_CODE_ATTEMPTS = 5


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def user_code_display(user_code: str) -> str:
    """XXXX-XXXX, as the device shows it."""
    half = USER_CODE_LENGTH // 2
    return f"{user_code[:half]}-{user_code[half:]}"


def normalised_user_code(typed: str) -> str | None:
    """The code a member typed, upper case and without dash or spaces; None if it cannot be one."""
    code = typed.translate(USER_CODE_IGNORED).upper()
    if len(code) != USER_CODE_LENGTH or any(character not in USER_CODE_ALPHABET for character in code):
        return None
    return code


def user_code_digest(user_code: str) -> str:
    """HMAC-SHA256 of a normalised user code, under a key derived from SECRET_KEY (module docstring)."""
    return salted_hmac(USER_CODE_KEY_SALT, user_code, algorithm="sha256").hexdigest()


def device_code_lifetime() -> timedelta:
    return timedelta(seconds=settings.LATCH_DEVICE_CODE_SECONDS)


@dataclass(frozen=True)
class DeviceAuthorization:
    """What the device is told (RFC 8628 §3.2); the codes exist in plaintext only here."""

    device_code: str
    user_code: str
    expires_in: int
    interval: int

    def response(self, verification_uri: str) -> dict[str, str | int]:
        return {
            "device_code": self.device_code,
            "user_code": user_code_display(self.user_code),
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={user_code_display(self.user_code)}",
            "expires_in": self.expires_in,
            "interval": self.interval,
        }


@transaction.atomic
def device_authorization_create(*, application: Application, scopes: list[str]) -> DeviceAuthorization:
    """Store a new device authorization for `application` and `scopes` (already validated)."""
    lifetime = device_code_lifetime()
    interval = oauth2_settings.DEVICE_FLOW_INTERVAL
    device_code = random_token()
    for attempt in range(USER_CODE_ATTEMPTS):
        user_code = new_user_code()
        try:
            with transaction.atomic():
                DeviceGrant.objects.create(
                    client_id=application.client_id,
                    device_code=device_code,
                    user_code=user_code_digest(user_code),
                    scope=" ".join(scopes),
                    interval=interval,
                    expires=timezone.now() + lifetime,
                )
        except IntegrityError:
            if attempt == USER_CODE_ATTEMPTS - 1:
                raise
            continue
        break
    return DeviceAuthorization(device_code, user_code, int(lifetime.total_seconds()), interval)


def device_grant_waiting(*, typed_user_code: str) -> tuple[DeviceGrant, Application] | None:
    """The unexpired, unanswered device authorization of the code a member typed, with its app."""
    user_code = normalised_user_code(typed_user_code)
    if user_code is None:
        return None
    grant = DeviceGrant.objects.filter(
        user_code=user_code_digest(user_code),
        status=DeviceGrant.AUTHORIZATION_PENDING,
        answered_at__isnull=True,
        expires__gt=timezone.now(),
    ).first()
    if grant is None:
        return None
    application = Application.objects.filter(client_id=grant.client_id).first()
    return None if application is None else (grant, application)


@transaction.atomic
def device_grant_answer(
    *, grant_id: int, user, allow: bool, sign_in: SignIn
) -> tuple[DeviceGrant, Application] | None:
    """The member's Allow or Deny for a device, with its app; None if answered before or expired.

    The row is locked, so of two answers (two tabs, two members who typed the same code) only the
    first counts. An Allow is also remembered as consent, so the member finds the app among their
    connected apps and can disconnect it (apps/oauth/consent.py); it never skips this page.
    """
    grant = DeviceGrant.objects.select_for_update().filter(pk=grant_id).first()
    now = timezone.now()
    if (
        grant is None
        or grant.status != DeviceGrant.AUTHORIZATION_PENDING
        or grant.answered_at is not None
        or grant.expires <= now
    ):
        return None
    application = Application.objects.filter(client_id=grant.client_id).first()
    if application is None:
        return None
    grant.user = user
    grant.status = DeviceGrant.AUTHORIZED if allow else DeviceGrant.DENIED
    grant.answered_at = now
    sign_in.store_on(grant)
    grant.save(update_fields=["user", "status", "answered_at", "amr", "acr", "auth_time"])
    if allow:
        consent.grant(user, application, grant.scope.split())
    return grant, application
