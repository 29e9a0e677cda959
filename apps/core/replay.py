"""Single-use values in the shared cache: a DPoP proof's or a client assertion's `jti`.

Each is accepted once, across every instance (the cache is Redis in production). The key is a
digest of what identifies the value: a client chooses its `jti`, and a digest keeps cache keys
short and free of anything it sent.
"""

import hashlib

from django.core.cache import cache


def first_use(namespace: str, value: str, *, timeout: int) -> bool:
    """Record `value` under `namespace` for `timeout` seconds; False when it was recorded before.

    `cache.add` is atomic in Redis (SET NX): of two concurrent requests with one value, only one
    sees True. `timeout` must outlive the span in which the value could still be accepted.
    """
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return cache.add(f"{namespace}:jti:{digest}", 1, timeout=timeout)
