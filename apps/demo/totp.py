"""The demo admin's authenticator: a TOTP secret made at load time, and its current code.

The admin asks staff for a second factor (apps/accounts/mfa.py), so a newcomer who opens the Admin
link from `make run`'s banner would otherwise meet a set-up page first. The demo gives the admin an
authenticator as allauth's own set-up page would, and prints its secret.

This uses allauth.mfa's internal TOTP module (`allauth.mfa.totp.internal.auth`): allauth offers no
public API to give a user an authenticator or compute a code without a request and its session.
tests/demo/test_demo_totp.py pins both to a real sign-in: the code from `current_code` passes
allauth's own second-factor step, and the admin page opens.
"""

import time

from allauth.mfa import app_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value

from apps.accounts.models import User


def replace_authenticator(user: User) -> str:
    """Give `user` a new TOTP authenticator, and recovery codes as allauth's set-up page does.

    An older authenticator of theirs is removed (its secret was lost with var/). Returns the new
    base32 secret.
    """
    Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists():
        RecoveryCodes.activate(user)
    return secret


def current_code(secret: str) -> str:
    """The code an authenticator app shows now for `secret` (RFC 6238, allauth's period and digits)."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))
