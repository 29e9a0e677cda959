"""Applications' rows kept in each process between changes, for client authentication.

Every token, introspection, revocation, PAR and device request starts by reading its client's row,
and applications change rarely: an administrator registers one, rotates a secret, narrows its
scopes, deletes it. So each process keeps the rows it has read, and a request uses a kept row only
while the applications' *generation* it read is still the one the row was kept under.

- The generation is a random value in the shared cache (Redis in production), read in the same
  round trip as the throttling counters every such request reads anyway (`get_many`, called by
  apps/oauth/throttling.py), so a request that finds its row kept makes no query for it at all.
- Any change to an application (save, delete, a queryset's update or delete, a bulk write, from any
  process: the admin, `manage.py`, dynamic registration) sets a new random generation once its
  transaction commits (apps/oauth/signals.py, ApplicationQuerySet). From their next request on,
  every instance reads the row again: a rotated secret, a narrowed scope or a deleted app takes
  effect everywhere at once.
- A new random value, not a counter: after Redis restarts empty, a counter could come back to a
  value some process still holds rows under. No generation stored (a restart, an eviction): the
  row comes from the database and is not kept; the next request stores a generation.
- A request that read no generation (the cache failed, or the caller is not a request) reads the
  database, as before.
- Each row is also dropped `LATCH_CLIENT_CACHE_SECONDS` after it was read (60 by default), the
  bound on a change whose new generation was never stored (the process died between its commit
  and the cache write, Redis refused it; both are logged). 0 turns the cache off.
- Off, too, when the cache is not shared between processes (the local-memory and dummy backends
  of development and tests): one process could not tell another of a change.

What is kept is the row as the database returned it (the client secret's hash, as stored; never a
secret), and each request gets a new instance built from it, so nothing a request does to its
instance reaches another. Nothing about tokens is kept: every token is looked up on every request.
A change made outside Django (psql) is not seen until the row's time is up, or
`manage.py forget_cached_clients`.
"""

import logging
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache

from apps.oauth import lookups
from apps.oauth.models import Application

logger = logging.getLogger(__name__)

GENERATION_KEY = "latch:oauth:applications:generation"
# Rows kept per process at most: client ids come from requests, and only found rows are kept.
MAX_ROWS = 2048
_NOT_SHARED = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
# What a kept row may hold: values no request can change in place.
_IMMUTABLE = (str, int, float, bool, bytes, Decimal, datetime, date, UUID, type(None))


@dataclass
class _RequestGeneration:
    value: str | None = None


@dataclass(frozen=True)
class _Kept:
    generation: str
    until: float  # time.monotonic()
    using: str
    row: tuple[Any, ...]


_request: ContextVar[_RequestGeneration | None] = ContextVar("applications_generation", default=None)
_rows: dict[str, _Kept] = {}
_rows_lock = threading.Lock()


def keep_seconds() -> float:
    return float(settings.LATCH_CLIENT_CACHE_SECONDS)


def enabled() -> bool:
    return keep_seconds() > 0 and settings.CACHES["default"]["BACKEND"] not in _NOT_SHARED


@contextmanager
def request_scope() -> Iterator[None]:
    """The span of one request: the generation `get_many` reads is this request's alone."""
    token = _request.set(_RequestGeneration())
    try:
        yield
    finally:
        _request.reset(token)


def get_many(keys: Iterable[str]) -> dict[str, Any]:
    """`cache.get_many(keys)`, reading the applications' generation in the same round trip when
    a request scope is open."""
    keys = list(keys)
    scope = _request.get()
    if scope is None or not enabled():
        return cache.get_many(keys)
    values = cache.get_many([*keys, GENERATION_KEY])
    generation = values.pop(GENERATION_KEY, None)
    scope.value = generation if isinstance(generation, str) else None
    if scope.value is None:
        cache.add(GENERATION_KEY, _new_generation(), timeout=None)  # kept from the next request on
    return values


def application(client_id: str) -> Application | None:
    """The application with `client_id`, from this process when its row is still current.

    ValueError for an id the database cannot represent (a NUL byte), as the lookup raises it."""
    scope = _request.get()
    generation = scope.value if scope is not None else None  # read by get_many only when enabled
    if generation is None:
        return lookups.application_by_client_id.first(client_id)
    kept = _rows.get(client_id)
    if kept is not None and kept.generation == generation and kept.until > time.monotonic():
        return lookups.application_by_client_id.build(kept.using, kept.row)
    fetched = lookups.application_by_client_id.fetch(client_id)
    if fetched is None:
        return None
    using, row = fetched
    if all(isinstance(value, _IMMUTABLE) for value in row):
        _keep(client_id, _Kept(generation, time.monotonic() + keep_seconds(), using, row))
    return lookups.application_by_client_id.build(using, row)


def _keep(client_id: str, kept: _Kept) -> None:
    with _rows_lock:
        if len(_rows) >= MAX_ROWS and client_id not in _rows:
            _rows.clear()
        _rows[client_id] = kept


def applications_changed() -> bool:
    """Every process reads applications from the database again from its next request on.

    False, logged, when the shared cache refused the new generation: the change is committed, and
    other instances see it when their kept rows expire."""
    forget_kept_rows()
    try:
        cache.set(GENERATION_KEY, _new_generation(), timeout=None)
    except Exception:  # whatever the cache backend raises; the caller's change must not fail
        logger.exception(
            "oauth.client_cache_not_invalidated seconds=%s",
            keep_seconds(),
            extra={"event": "oauth.client_cache_not_invalidated", "details": {"seconds": keep_seconds()}},
        )
        return False
    return True


def forget_kept_rows() -> None:
    """Drop this process's rows (tests; a process that must not trust what it read before)."""
    with _rows_lock:
        _rows.clear()


def _new_generation() -> str:
    return secrets.token_hex(16)
