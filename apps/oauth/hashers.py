"""The client-secret hasher DOT's CLIENT_SECRET_HASHER names.

Why not Argon2 or PBKDF2 as for passwords: a slow hash exists to make guessing a *low-entropy*
secret expensive. Latch generates every client secret itself with 384 bits from `secrets`
(apps/oauth/services.py new_client_secret), so there is nothing to guess, and one salted SHA-256
per check is as safe as a million. A slow hash would instead
cost hundreds of milliseconds of CPU on every client-authenticated token, refresh, introspection and
revocation request (DOT's default PBKDF2 held a 2-core machine to 5.5 tokens/s; see
../shared/DEPENDENCIES.md), which makes the token endpoint a denial-of-service target.

Secrets stored by DOT's default PBKDF2 hasher keep verifying (Django picks the hasher from the
stored prefix, and PBKDF2 stays in PASSWORD_HASHERS); `manage.py rotate_client_secret` (or the
admin's "new secret" action) replaces such a secret with a fresh one stored this way. Until then
such a secret may be one a person chose, so the per-client throttle refuses every attempt for it
once the client is past its failure limit (apps/oauth/throttling.py, is_generated_secret).
"""

import hashlib
import secrets
from typing import Any

from django.contrib.auth.hashers import BasePasswordHasher
from django.utils.crypto import constant_time_compare


class ClientSecretHasher(BasePasswordHasher):
    algorithm = "latch_sha256"

    def salt(self) -> str:
        return secrets.token_hex(8)

    def encode(self, password: str, salt: str) -> str:
        if password is None or not salt or "$" in salt:
            raise ValueError("A password and a salt without '$' are required.")
        digest = hashlib.sha256(f"{salt}${password}".encode()).hexdigest()
        return f"{self.algorithm}${salt}${digest}"

    def decode(self, encoded: str) -> dict[str, str]:
        algorithm, salt, digest = encoded.split("$", 2)
        assert algorithm == self.algorithm  # noqa: S101  (Django's hashers do the same)
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        decoded = self.decode(encoded)
        return constant_time_compare(encoded, self.encode(password, decoded["salt"]))

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        decoded = self.decode(encoded)
        return {"algorithm": decoded["algorithm"], "salt": decoded["salt"][:4] + "…", "hash": "…"}

    def harden_runtime(self, password: str, encoded: str) -> None:
        return None

    def must_update(self, encoded: str) -> bool:
        return False


def is_generated_secret(encoded: str) -> bool:
    """Whether a stored client secret is one Latch generated: only those are stored with this hasher
    (create_application, rotate_client_secret). Any other (PBKDF2 from DOT's default, plaintext)
    may be guessable."""
    return encoded.startswith(f"{ClientSecretHasher.algorithm}$")
