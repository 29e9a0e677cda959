"""A column that stores only the SHA-256 digest of the secret assigned to it."""

import hashlib

from django.db import models


class Digest(str):
    """A value read from the database: already a digest, never to be hashed again."""


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class DigestField(models.CharField):
    """Stores sha256(value) and compares by it: `filter(code=raw)` finds the row, a leak reveals nothing.

    Used for authorization codes (DOT looks rows up by the code in several places) and session keys:
    digesting in the field covers every lookup without copying the library's code. Values loaded
    from the database come back as `Digest`, so saving a loaded row never hashes it a second time.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return None if value is None else Digest(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or isinstance(value, Digest):
            return value
        return sha256_hex(value)
