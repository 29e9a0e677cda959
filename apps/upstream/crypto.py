"""The vault's keys and cipher: AES-256-GCM under a key id, every ciphertext bound to where it belongs.

Keys come from the environment, never from the database they protect:

- `LATCH_VAULT_KEYS` (or `LATCH_VAULT_KEYS_FILE`): `kid:base64,kid:base64,...`, each key 32 random
  bytes in standard or URL-safe base64 (GENERATE_HINT says how to make one). Commas, spaces and
  newlines all separate entries, so a file may hold one key a line.
- `LATCH_VAULT_CURRENT_KEY`: the kid new encryptions use. The others only decrypt, until
  `manage.py vault_rekey` has moved everything off them and they are removed.

A stored value ("blob") is text: `v1:<kid>:<nonce>:<ciphertext>`, nonce (96 random bits, NIST SP
800-38D §8.2.2) and ciphertext-with-tag in unpadded base64url. The associated data is the header
(version and kid) plus a `context` the caller gives: where the value lives (apps/upstream/fields.py
passes model, primary key and field). GCM authenticates it, so a blob copied to another row or
field, or with its kid changed, fails to decrypt instead of handing over another row's secret.

Random nonces under one key are safe up to 2**32 encryptions (SP 800-38D §8.3); a vault that
re-encrypts a few tokens per member per hour is many orders of magnitude below that, and rotating
keys (vault_rekey) resets the count.

Settings call this module, so it imports no Django model and works before Django is set up.
"""

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import environ
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured

KEYS_VARIABLE = "LATCH_VAULT_KEYS"
CURRENT_VARIABLE = "LATCH_VAULT_CURRENT_KEY"
VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, GCM's native nonce size
# Letters, digits, "-" and "_": never ":" (the blob's separator) nor anything a shell or URL mangles.
KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
BLOB_PATTERN = re.compile(
    rf"{VERSION}:(?P<kid>{KID_PATTERN.pattern}):(?P<nonce>[A-Za-z0-9_-]{{16}}):(?P<ciphertext>[A-Za-z0-9_-]{{22,}})"
)
GENERATE_HINT = (
    'Generate a key with `python -c "import os, base64; print(base64.b64encode(os.urandom(32)).decode())"`.'
)


class VaultError(Exception):
    """A stored value cannot be decrypted: its key is gone, or it was changed or moved."""


class UnknownKey(VaultError):
    """The value was encrypted under a kid that is not (any more) in LATCH_VAULT_KEYS."""


@dataclass(frozen=True)
class VaultKeys:
    """Every configured key by kid, and the kid new encryptions use."""

    current: str
    keys: dict[str, bytes] = field(repr=False)  # never in a log line, diffsettings or an error page

    @property
    def kids(self) -> list[str]:
        return sorted(self.keys)


# --- Reading and checking keys -------------------------------------------------------------------


def _key_bytes(text: str, *, kid: str) -> bytes:
    """Standard or URL-safe base64 of exactly 32 bytes; the message never repeats the value."""
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{KEYS_VARIABLE}: key {kid!r} is not base64. {GENERATE_HINT}") from None
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"{KEYS_VARIABLE}: key {kid!r} is {len(raw)} bytes; AES-256 needs exactly {KEY_BYTES}. "
            + GENERATE_HINT
        )
    return raw


def parse_vault_keys(keys: str, current: str) -> VaultKeys:
    """The keys of `LATCH_VAULT_KEYS` and the current kid, checked; ImproperlyConfigured says what's wrong."""
    entries = [entry for entry in re.split(r"[\s,]+", keys.strip()) if entry]
    if not entries:
        raise ImproperlyConfigured(
            f"{KEYS_VARIABLE} (or {KEYS_VARIABLE}_FILE) must be set to `kid:base64-key`, with "
            f"{CURRENT_VARIABLE} naming the kid that encrypts. {GENERATE_HINT} For a local try-out use "
            "`make run`, which sets LATCH_DEV_KEYS=1 to generate a throw-away key into var/."
        )
    parsed: dict[str, bytes] = {}
    for number, entry in enumerate(entries, start=1):
        kid, separator, value = entry.partition(":")
        if not separator or not value:
            raise ImproperlyConfigured(f"{KEYS_VARIABLE}: entry {number} is not `kid:base64-key`.")
        if not KID_PATTERN.fullmatch(kid):
            raise ImproperlyConfigured(
                f"{KEYS_VARIABLE}: entry {number} has kid {kid[:40]!r}; a kid is 1 to 32 letters, digits, "
                "'-' or '_'."
            )
        if kid in parsed:
            raise ImproperlyConfigured(f"{KEYS_VARIABLE} names key {kid!r} twice.")
        parsed[kid] = _key_bytes(value, kid=kid)
    current = current.strip()
    if not current:
        raise ImproperlyConfigured(
            f"{CURRENT_VARIABLE} must be set: it names the key in {KEYS_VARIABLE} that encrypts "
            f"({', '.join(sorted(parsed))})."
        )
    if current not in parsed:
        raise ImproperlyConfigured(
            f"{CURRENT_VARIABLE}={current!r} is not among the keys in {KEYS_VARIABLE} "
            f"({', '.join(sorted(parsed))})."
        )
    return VaultKeys(current=current, keys=parsed)


def vault_keys_from_env(env: environ.Env, *, dev_keys: Callable[[], str] | None = None) -> VaultKeys:
    """What config/settings.py calls. With LATCH_DEV_KEYS=1 and no keys set, `dev_keys` gives one."""
    keys = env.str(KEYS_VARIABLE, default="")
    current = env.str(CURRENT_VARIABLE, default="")
    if not keys.strip() and dev_keys is not None:
        keys = dev_keys()
        current = keys.partition(":")[0]
    return parse_vault_keys(keys, current)


def generate_key_entry(kid: str) -> str:
    """A fresh `kid:base64` entry for LATCH_VAULT_KEYS."""
    if not KID_PATTERN.fullmatch(kid):
        raise ValueError(f"{kid!r} is not a kid: 1 to 32 letters, digits, '-' or '_'.")
    return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"


# --- Encrypting and decrypting -------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _associated_data(kid: str, context: Sequence[str]) -> bytes:
    # JSON of a list: unambiguous whatever the parts contain (no "a|b" + "c" == "a" + "b|c").
    return json.dumps(["latch-vault", VERSION, kid, *context], separators=(",", ":")).encode("utf-8")


def blob_kid(blob: str) -> str:
    """The kid a stored value was encrypted under; ValueError if it is not a vault blob at all."""
    match = BLOB_PATTERN.fullmatch(blob)
    if match is None:
        raise ValueError("not a vault value")
    return match["kid"]


def is_blob(value: str) -> bool:
    return BLOB_PATTERN.fullmatch(value) is not None


def kid_prefix(kid: str) -> str:
    """What every blob under `kid` starts with: for finding them with `__startswith`."""
    return f"{VERSION}:{kid}:"


def encrypt(plaintext: str, *, context: Sequence[str], keys: VaultKeys) -> str:
    """`plaintext` under the current key, bound to `context`; "" stays "" (nothing to protect)."""
    if plaintext == "":
        return ""
    kid = keys.current
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(keys.keys[kid]).encrypt(
        nonce, plaintext.encode("utf-8"), _associated_data(kid, context)
    )
    return f"{VERSION}:{kid}:{_b64(nonce)}:{_b64(ciphertext)}"


def decrypt(blob: str, *, context: Sequence[str], keys: VaultKeys) -> str:
    """The plaintext of `blob`, if it was encrypted for exactly this `context`; VaultError otherwise."""
    if blob == "":
        return ""
    match = BLOB_PATTERN.fullmatch(blob)
    if match is None:
        raise VaultError("The stored value is not a vault value (it was changed or never encrypted).")
    kid = match["kid"]
    key = keys.keys.get(kid)
    if key is None:
        raise UnknownKey(
            f"The stored value was encrypted under key {kid!r}, which is not in {KEYS_VARIABLE} any more."
        )
    try:
        plaintext = AESGCM(key).decrypt(
            _unb64(match["nonce"]), _unb64(match["ciphertext"]), _associated_data(kid, context)
        )
    except (InvalidTag, ValueError):
        raise VaultError(
            "The stored value does not decrypt here: it was changed, or copied from another row or field."
        ) from None
    return plaintext.decode("utf-8")
