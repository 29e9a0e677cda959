"""Throw-away keys for `make run` and the tests, kept in var/ (git-ignored), never for production.

Only used when LATCH_DEV_KEYS=1 and no key is configured; production reads DJANGO_SECRET_KEY, its
signing keys (OIDC_RSA_PRIVATE_KEY or LATCH_SIGNING_KEYS_DIR, see apps/oauth/keys.py) and its vault
keys (LATCH_VAULT_KEYS, see apps/upstream/crypto.py) from the environment (or *_FILE paths) and
refuses to start without them.
"""

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path`, made by `make()` and written there (mode 0600) the first time.

    Also for the example relying party's own secret key (examples/webapp/settings.py).
    """
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    # Write beside the target and rename: two processes starting together never see a half key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.replace(tmp, path)
    return path.read_text()


def dev_secret_key(var_dir: Path) -> str:
    return read_or_create(var_dir / "dev-secret-key", lambda: secrets.token_urlsafe(50))


def dev_rsa_private_key(var_dir: Path) -> str:
    def make() -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    return read_or_create(var_dir / "dev-oidc-key.pem", make)


def dev_vault_keys(var_dir: Path) -> str:
    """One AES-256 key as LATCH_VAULT_KEYS spells it (`kid:base64`); its kid "dev" is the current one."""
    return read_or_create(
        var_dir / "dev-vault-keys", lambda: "dev:" + base64.b64encode(secrets.token_bytes(32)).decode()
    )
