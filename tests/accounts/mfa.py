"""Two-factor sign-in in tests: codes from allauth's own TOTP helpers, a software security key, and
staff sessions marked as signed in with two factors."""

import json
import secrets
import time
from typing import Any

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.http import HttpRequest
from django.test import Client
from fido2.cose import ES256
from fido2.utils import sha256, websafe_decode, websafe_encode
from fido2.webauthn import (
    Aaguid,
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

from tests.accounts.factories import PASSWORD

# The test client's host: allauth's WebAuthn relying party id, and the origin a browser would send.
RP_ID = "testserver"
ORIGIN = f"https://{RP_ID}"


def wait_unless_the_code_lasts_2_seconds() -> None:
    """Sleep into the next TOTP period when the current one ends within 2 s: a code read now would
    expire before it is used, and allauth allows no drift."""
    period = mfa_settings.TOTP_PERIOD
    if period - time.time() % period < 2:
        time.sleep(period - time.time() % period + 0.1)


def totp_code(secret: str) -> str:
    """The code an authenticator app shows now; never one about to expire."""
    wait_unless_the_code_lasts_2_seconds()
    return format_hotp_value(hotp_value(secret, int(time.time()) // mfa_settings.TOTP_PERIOD))


def activate_totp(user) -> str:
    """An authenticator app and recovery codes for the member, as activation leaves them; the secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def recovery_codes(user) -> list[str]:
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    return authenticator.wrap().get_unused_codes()


def sign_in(client: Client, user, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": user.email, "password": password})


def sign_in_with_code(client: Client, user, code: str, **login_data):
    """Password, then the second step with `code` (an authenticator or recovery code)."""
    first = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD, **login_data})
    assert first.status_code == 302, first.content
    assert first["Location"] == "/accounts/2fa/authenticate/", first["Location"]
    return client.post("/accounts/2fa/authenticate/", {"code": code})


def add_key(client: Client, key: "SoftwareAuthenticator", *, passkey: bool, name: str = "Blue key"):
    """The page that adds a security key (a passkey, if `passkey`), after a fresh password check."""
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/webauthn/add/")
    assert page.status_code == 200, page.get("Location")
    credential = key.create(page.context["js_data"]["creation_options"], resident=passkey)
    data = {"name": name, "credential": credential}
    if passkey:
        data["passwordless"] = "on"
    return client.post("/accounts/2fa/webauthn/add/", data)


def sign_in_with_passkey(client: Client, key: "SoftwareAuthenticator"):
    """The sign-in page's passkey button: fetch a challenge, sign it, post the assertion."""
    options = client.get("/accounts/2fa/webauthn/login/", HTTP_ACCEPT="application/json").json()
    return client.post("/accounts/2fa/webauthn/login/", {"credential": key.get(options["request_options"])})


def signed_in_with_a_passkey(user) -> Client:
    """A browser signed in with a passkey alone; the member added it in another browser first."""
    setup = Client()
    sign_in(setup, user)
    key = SoftwareAuthenticator()
    assert add_key(setup, key, passkey=True).status_code == 302
    browser = Client()
    assert sign_in_with_passkey(browser, key).status_code == 302
    return browser


def mark_second_factor(client: Client, user) -> None:
    """Give a force_login session the records a password and authenticator-app sign-in leaves.

    allauth records each step of a sign-in in the session (`record_authentication`); force_login
    skips the steps, so without this a staff member's session counts as password-less and
    single-factor. The member gets an authenticator app if they have none.
    """
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if authenticator is None:
        activate_totp(user)
        authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    request = HttpRequest()
    request.session = client.session
    record_authentication(request, user, "password", email=user.email)
    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)
    request.session.save()


def staff_browser(user, **client_kwargs) -> Client:
    """A browser in which a staff member signed in with password and authenticator app."""
    browser = Client(**client_kwargs)
    browser.force_login(user)
    mark_second_factor(browser, user)
    return browser


def _options(data: dict) -> dict:
    """allauth's creation/request options, as webauthn-json hands them to the browser."""
    return data.get("publicKey", data)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else websafe_decode(value)


class SoftwareAuthenticator:
    """A WebAuthn authenticator in software: a P-256 key, "none" attestation, real signatures.

    allauth and fido2 verify what it returns exactly as they verify a browser's answer (challenge,
    origin, relying party, flags, signature), so the tests run the real ceremonies.
    """

    def __init__(self, *, user_verification: bool = True) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)
        self.user_handle = b""
        self.user_verification = user_verification
        self.counter = 0

    def _flags(self, attested: bool = False) -> AuthenticatorData.FLAG:
        flags = AuthenticatorData.FLAG.UP
        if self.user_verification:
            flags |= AuthenticatorData.FLAG.UV
        if attested:
            flags |= AuthenticatorData.FLAG.AT
        return flags

    def create(self, creation_options: dict, *, resident: bool = False) -> str:
        """navigator.credentials.create(): the credential JSON that allauth's page would post."""
        options = _options(creation_options)
        self.user_handle = _bytes(options["user"]["id"])
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.CREATE, challenge=_bytes(options["challenge"]), origin=ORIGIN
        )
        public_key = ES256.from_cryptography_key(self.key.public_key())
        credential_data = AttestedCredentialData.create(Aaguid.NONE, self.credential_id, public_key)
        auth_data = AuthenticatorData.create(
            sha256(RP_ID.encode()), self._flags(attested=True), self.counter, credential_data
        )
        attestation = AttestationObject.create("none", auth_data, {})
        return json.dumps(
            {
                "id": websafe_encode(self.credential_id),
                "rawId": websafe_encode(self.credential_id),
                "type": "public-key",
                "authenticatorAttachment": "cross-platform",
                "response": {
                    "clientDataJSON": websafe_encode(client_data),
                    "attestationObject": websafe_encode(attestation),
                    "transports": ["usb"],
                },
                "clientExtensionResults": {"credProps": {"rk": resident}},
            }
        )

    def get(self, request_options: dict) -> str:
        """navigator.credentials.get(): a signed assertion over allauth's challenge."""
        options = _options(request_options)
        self.counter += 1
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.GET, challenge=_bytes(options["challenge"]), origin=ORIGIN
        )
        auth_data = AuthenticatorData.create(sha256(RP_ID.encode()), self._flags(), self.counter)
        signature = self.key.sign(auth_data + client_data.hash, ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": websafe_encode(self.credential_id),
                "rawId": websafe_encode(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": websafe_encode(client_data),
                    "authenticatorData": websafe_encode(auth_data),
                    "signature": websafe_encode(signature),
                    "userHandle": websafe_encode(self.user_handle),
                },
                "clientExtensionResults": {},
            }
        )
