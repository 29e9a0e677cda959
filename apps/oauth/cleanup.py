"""Delete the OAuth rows that nobody can use any more, in short batches, while Latch keeps serving.

What goes, and what is kept on purpose:

- A refresh token past its own lifetime: never revoked, but its access token expired more than
  REFRESH_TOKEN_EXPIRE_SECONDS ago (DOT's `validate_refresh_token` refuses it from then on), or
  left without an access token at all (an orphan, which DOT refuses too).
- A revoked refresh token (a "tombstone" left by rotation, revocation or a family revocation) once
  it was revoked more than REFRESH_TOKEN_EXPIRE_SECONDS + ACCESS_TOKEN_EXPIRE_SECONDS ago. Until
  then a replay of it must still be recognised and revoke its family (RFC 9700 §4.14.2). A refresh
  token is usable until REFRESH_TOKEN_EXPIRE_SECONDS after its access token expires, and that
  access token, issued before the refresh token was revoked, expired at most
  ACCESS_TOKEN_EXPIRE_SECONDS after the revocation: past the retention the tombstone would be
  refused as expired even had it never been rotated, so forgetting it gives an attacker nothing.
  (ACCESS_TOKEN_EXPIRE_SECONDS here is the longest access token lifetime: an application's own
  access_token_lifetime may be longer than the default.)
- An access token once expired, if no refresh token points at it any more. The refresh token's
  lifetime is counted from its access token's `expires`, so the access token of a usable refresh
  token stays; it goes in the same run as its refresh token, when that one has died.
- An ID token ID_TOKEN_RETENTION after it expired, if no access token refers to it. Latch accepts
  an expired id_token_hint at RP-initiated logout (OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS),
  and DOT looks the hint up in this table: a deleted row would turn a member's logout into an
  error page.
- An authorization code CODE_RETENTION after it expired, so that a late replay of a redeemed code
  is still recognised and revokes what it gave (RFC 6749 §4.1.2).
- A pushed authorization request (RFC 9126) par.RETENTION after it expired, answered or not: a
  consent page shown just before it expired may still be answered until then (apps/oauth/par.py).
- A device authorization (RFC 8628) CODE_RETENTION after it expired, answered or not: until then a
  late poll is told `expired_token` (or, once redeemed, that the code was used).

Why not DOT's `clear_expired()` (the `cleartokens` command): after every batch it counts the
whole remaining range again, sends the batch's keys back as an IN list of up to
CLEAR_EXPIRED_TOKENS_BATCH_SIZE literals, and deletes through Django's collector, which loads the
rows and issues a SET NULL update per relation with another such IN list; those settings only size
and space that loop. It waits on locked rows, deletes an ID token as soon as it expires (breaking
logout, above), and deletes authorization codes at expiry, which Latch keeps for replay detection.

Here each batch is one statement in its own transaction. On PostgreSQL:

    WITH batch AS (SELECT t.id, <key> AS k FROM <table> t WHERE <indexed condition>
                   [AND <key> >= <last batch's max k>] ORDER BY <key> LIMIT n
                   FOR UPDATE OF t SKIP LOCKED),
         unlink AS (UPDATE <referencing table> SET <fk> = NULL WHERE <fk> = ANY(ARRAY(SELECT id FROM batch))),
         deleted AS (DELETE FROM <table> WHERE id = ANY(ARRAY(SELECT id FROM batch)) RETURNING 1)
    SELECT (SELECT count(*) FROM deleted), (SELECT max(k) FROM batch)

Rows a request holds are skipped, not waited on, and picked up by the next run. The next batch
starts where this one ended (keyset on the ordering index), so a run reads each candidate once,
however many rows it has to step over. Locks are only ever taken on the swept table's rows, plus
(for refresh tokens) the access tokens minted from them, in DOT's own order (refresh token, then
access token), so cleanup cannot deadlock with rotation or a family revocation.

SQLite has no row locks: there a batch is an UPDATE and a DELETE whose `IN (SELECT ... LIMIT n)`
picks the rows inside the writing statement itself.
"""

# ruff: noqa: S608 (SQL is assembled from model metadata and constants; every value is a parameter)

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction
from django.utils import timezone
from oauth2_provider.models import refresh_token_expire_timedelta
from oauth2_provider.settings import oauth2_settings

from apps.oauth import par
from apps.oauth.models import (
    AccessToken,
    Application,
    DeviceGrant,
    Grant,
    IDToken,
    PushedAuthorizationRequest,
    RefreshToken,
)

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 5000
DEFAULT_PAUSE_SECONDS = 0.1

# Codes live 60 seconds; an hour more is ample for a late replay of a redeemed code to be caught.
CODE_RETENTION = timedelta(hours=1)


def id_token_retention() -> timedelta:
    """As long as the member's Latch session can last: the span in which an RP logs them out."""
    return timedelta(seconds=settings.SESSION_COOKIE_AGE)


@dataclass(frozen=True)
class Reference:
    """A foreign key to a swept model: `model.column` points at the swept table's `id`."""

    model: type[models.Model]
    column: str


@dataclass(frozen=True)
class Sweep:
    """One kind of dead row: which rows, in which index order, and what refers to them.

    `where` is SQL over the swept table aliased `t` (and whatever `join` adds), with %(name)s
    parameters. `key` is the indexed expression a batch is ordered by and the next batch resumes
    from; None where no index can serve an order (the batch then takes any n rows).
    Every reference to the swept table is either in `keep_if_referenced` (a referenced row stays)
    or in `unlink` (the reference is set to NULL, as on_delete=SET_NULL does).
    `preview` is the whole condition a dry run counts by, where a row's fate depends on rows that
    earlier sweeps of the same run delete: it counts those as gone.
    """

    model: type[models.Model]
    where: str
    key: str | None
    join: str = ""
    keep_if_referenced: tuple[Reference, ...] = ()
    unlink: tuple[Reference, ...] = ()
    preview: str | None = None


@dataclass
class ModelTally:
    deleted: int = 0
    batches: int = 0
    seconds: float = 0.0


@dataclass
class CleanupResult:
    """Per model name, what was deleted (or would be, on a dry run)."""

    tallies: dict[str, ModelTally] = field(default_factory=dict)
    complete: bool = True
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def deleted(self) -> int:
        return sum(tally.deleted for tally in self.tallies.values())

    @property
    def batches(self) -> int:
        return sum(tally.batches for tally in self.tallies.values())


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column_name(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise ImproperlyConfigured(f"{model.__name__}.{name} is not a column")
    return field.column


def _column(model: type[models.Model], name: str) -> str:
    return connection.ops.quote_name(_column_name(model, name))


def _ref(model: type[models.Model], name: str) -> Reference:
    return Reference(model, _column_name(model, name))


def _refresh_token_dies(r: str, a: str) -> str:
    """SQL: refresh token `r`, holding access token `a`, is deleted by the refresh-token sweeps."""
    if refresh_token_expire_timedelta() is None:
        return "FALSE"  # only orphans go, and they hold no access token
    return (
        f"(({r}.revoked IS NULL AND {a}.expires < %(refresh_expired_before)s)"
        f" OR ({r}.revoked IS NOT NULL AND {r}.revoked < %(revoked_before)s))"
    )


def _access_token_dies(a: str) -> str:
    """SQL: access token `a` is deleted by this run, once the refresh tokens holding it are gone."""
    holder = f"r.{_column(RefreshToken, 'access_token')}"
    return (
        f"({a}.expires < %(now)s AND NOT EXISTS (SELECT 1 FROM {_table(RefreshToken)} r"
        f" WHERE {holder} = {a}.id AND NOT {_refresh_token_dies('r', a)}))"
    )


def sweeps() -> list[Sweep]:
    """Every kind of dead row, in the order they are deleted.

    Refresh tokens go first, so the access tokens they held are free to go in the same run;
    access tokens before the ID tokens they refer to.
    """
    access = _table(AccessToken)
    minted_from = _ref(AccessToken, "source_refresh_token")
    refresh_lifetime = refresh_token_expire_timedelta()
    found: list[Sweep] = []
    if refresh_lifetime is not None:
        # Without a lifetime, refresh tokens never expire and tombstones must be kept for ever.
        found.append(
            Sweep(
                RefreshToken,
                join=f"JOIN {access} a ON a.id = t.{_column(RefreshToken, 'access_token')}",
                where="t.revoked IS NULL AND a.expires < %(refresh_expired_before)s",
                key="a.expires",
                unlink=(minted_from,),
            )
        )
    found.append(
        Sweep(
            RefreshToken,
            where=f"t.revoked IS NULL AND t.{_column(RefreshToken, 'access_token')} IS NULL",
            key=None,
            unlink=(minted_from,),
        )
    )
    if refresh_lifetime is not None:
        found.append(
            Sweep(
                RefreshToken,
                where="t.revoked < %(revoked_before)s",
                key="t.revoked",
                unlink=(minted_from,),
            )
        )
    found += [
        Sweep(
            AccessToken,
            where="t.expires < %(now)s",
            key="t.expires",
            keep_if_referenced=(_ref(RefreshToken, "access_token"),),
            preview=_access_token_dies("t"),
        ),
        Sweep(
            IDToken,
            where="t.expires < %(id_token_expired_before)s",
            key="t.expires",
            keep_if_referenced=(_ref(AccessToken, "id_token"),),
            preview=(
                f"t.expires < %(id_token_expired_before)s AND NOT EXISTS (SELECT 1 FROM {access} a"
                f" WHERE a.{_column(AccessToken, 'id_token')} = t.id AND NOT {_access_token_dies('a')})"
            ),
        ),
        Sweep(Grant, where="t.expires < %(code_expired_before)s", key="t.expires"),
        Sweep(
            PushedAuthorizationRequest, where="t.expires < %(pushed_request_expired_before)s", key="t.expires"
        ),
        Sweep(DeviceGrant, where="t.expires < %(code_expired_before)s", key="t.expires"),
    ]
    return found


def unhandled_references(found: list[Sweep]) -> list[str]:
    """Foreign keys to a swept model that its sweep neither keeps for nor unlinks.

    Deleting through such a key would break the constraint at commit, so cleanup refuses to run:
    whoever adds a model pointing at a token must say here what its deletion means for it.
    """
    problems = []
    for sweep in found:
        handled = {(ref.model, ref.column) for ref in (*sweep.keep_if_referenced, *sweep.unlink)}
        for relation in sweep.model._meta.related_objects:
            remote = relation.remote_field
            if (relation.related_model, remote.column) not in handled:  # type: ignore[union-attr]
                problems.append(f"{relation.related_model.__name__}.{remote.name} -> {sweep.model.__name__}")
        problems += [
            f"{ref.model.__name__}.{ref.column} is not nullable"
            for ref in sweep.unlink
            if not next(f for f in ref.model._meta.concrete_fields if f.column == ref.column).null
        ]
    return sorted(set(problems))


def _candidates(sweep: Sweep, *, preview: bool = False) -> str:
    """FROM and WHERE of the rows this sweep may delete (on a dry run: will have deleted)."""
    if preview and sweep.preview:
        return f"FROM {_table(sweep.model)} t {sweep.join} WHERE {sweep.preview}"
    guards = "".join(
        f" AND NOT EXISTS (SELECT 1 FROM {_table(ref.model)} r"
        f" WHERE r.{connection.ops.quote_name(ref.column)} = t.id)"
        for ref in sweep.keep_if_referenced
    )
    return f"FROM {_table(sweep.model)} t {sweep.join} WHERE ({sweep.where}){guards}"


def _unlink(ref: Reference, ids: str) -> str:
    """What on_delete=SET_NULL does, for the rows whose ids the array `ids` holds (PostgreSQL)."""
    column = connection.ops.quote_name(ref.column)
    return f"UPDATE {_table(ref.model)} SET {column} = NULL WHERE {column} = ANY({ids})"


def _postgresql_batch(sweep: Sweep, params: dict[str, Any], after: Any) -> tuple[int, Any]:
    table = _table(sweep.model)
    key = sweep.key or "t.id"
    resume = f" AND {sweep.key} >= %(after)s" if sweep.key and after is not None else ""
    order = f" ORDER BY {sweep.key}" if sweep.key else ""
    # `= ANY(ARRAY(...))` makes every statement probe its index once per key; a join to the batch
    # lets the planner choose a merge join that reads the table's whole primary key per batch.
    keys = "ARRAY(SELECT id FROM batch)"
    unlinks = "".join(f", unlink_{index} AS ({_unlink(ref, keys)})" for index, ref in enumerate(sweep.unlink))
    sql = (
        f"WITH batch AS (SELECT t.id, {key} AS k {_candidates(sweep)}{resume}{order}"
        f" LIMIT %(limit)s FOR UPDATE OF t SKIP LOCKED){unlinks},"
        f" deleted AS (DELETE FROM {table} WHERE id = ANY({keys}) RETURNING 1)"
        " SELECT (SELECT count(*) FROM deleted), (SELECT max(k) FROM batch)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "after": after})
        count, last = cursor.fetchone()
    return count, last


def _sqlite_batch(sweep: Sweep, params: dict[str, Any]) -> int:
    # The first write takes SQLite's write lock, so both statements see the same rows.
    order = f" ORDER BY {sweep.key}, t.id" if sweep.key else ""
    batch = f"SELECT t.id {_candidates(sweep)}{order} LIMIT %(limit)s"
    with connection.cursor() as cursor:
        for ref in sweep.unlink:
            column = connection.ops.quote_name(ref.column)
            cursor.execute(
                f"UPDATE {_table(ref.model)} SET {column} = NULL WHERE {column} IN ({batch})", params
            )
        cursor.execute(f"DELETE FROM {_table(sweep.model)} WHERE id IN ({batch})", params)
        return cursor.rowcount


def _count(sweep: Sweep, params: dict[str, Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) {_candidates(sweep, preview=True)}", params)
        return cursor.fetchone()[0]


def longest_access_token_lifetime() -> int:
    """Seconds the longest-lived access token lives: the server's default or an application's own
    (Application.access_token_lifetime), whichever is longer. A tombstone's retention counts it."""
    longest = Application.objects.aggregate(longest=models.Max("access_token_lifetime"))["longest"]
    return max(oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS, longest or 0)


def _cutoffs(now: datetime) -> dict[str, Any]:
    refresh_lifetime = refresh_token_expire_timedelta() or timedelta(0)
    access_lifetime = timedelta(seconds=longest_access_token_lifetime())
    adapt = connection.ops.adapt_datetimefield_value
    return {
        "now": adapt(now),
        "refresh_expired_before": adapt(now - refresh_lifetime),
        "revoked_before": adapt(now - refresh_lifetime - access_lifetime),
        "id_token_expired_before": adapt(now - id_token_retention()),
        "code_expired_before": adapt(now - CODE_RETENTION),
        "pushed_request_expired_before": adapt(now - par.RETENTION),
    }


def tokens_cleanup(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pause: float = DEFAULT_PAUSE_SECONDS,
    max_seconds: float | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CleanupResult:
    """Delete dead tokens and codes (see the module docstring), `batch_size` rows per transaction.

    Sleeps `pause` seconds after each full batch, to leave the database room for requests, and
    stops starting batches once `max_seconds` have passed (the rest waits for the next run).
    `dry_run` counts what would go and deletes nothing. Each batch is a durable transaction, so
    calling this inside a transaction raises RuntimeError: the caller's transaction would hold
    every batch's locks until it ended.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if connection.vendor not in ("postgresql", "sqlite"):
        raise ImproperlyConfigured(f"Token cleanup supports PostgreSQL and SQLite, not {connection.vendor}.")
    found = sweeps()
    if problems := unhandled_references(found):
        raise ImproperlyConfigured("Token cleanup does not know what to do with: " + "; ".join(problems))
    params = {**_cutoffs(now or timezone.now()), "limit": batch_size}
    result = CleanupResult(dry_run=dry_run)
    for model in (AccessToken, RefreshToken, IDToken, Grant, PushedAuthorizationRequest, DeviceGrant):
        result.tallies[model.__name__] = ModelTally()
    started = clock()

    for sweep in found:
        tally = result.tallies[sweep.model.__name__]
        if dry_run:
            counted = clock()
            tally.deleted += _count(sweep, params)
            tally.seconds += clock() - counted
            continue
        after = None
        while True:
            if max_seconds is not None and clock() - started >= max_seconds:
                result.complete = False
                break
            batch_started = clock()
            with transaction.atomic(durable=True):
                if connection.vendor == "postgresql":
                    deleted, after = _postgresql_batch(sweep, params, after)
                else:
                    deleted = _sqlite_batch(sweep, params)
            tally.batches += 1
            tally.deleted += deleted
            tally.seconds += clock() - batch_started
            if deleted < batch_size:
                # Fewer than a full batch: the range is exhausted (rows skipped as locked included).
                break
            if pause:
                sleep(pause)
        if not result.complete:
            break

    result.seconds = clock() - started
    logger.info(
        "oauth.tokens_cleaned access_tokens=%d refresh_tokens=%d id_tokens=%d grants=%d "
        "pushed_requests=%d device_grants=%d batches=%d seconds=%.2f complete=%s dry_run=%s",
        *(
            result.tallies[name].deleted
            for name in (
                "AccessToken",
                "RefreshToken",
                "IDToken",
                "Grant",
                "PushedAuthorizationRequest",
                "DeviceGrant",
            )
        ),
        result.batches,
        result.seconds,
        result.complete,
        dry_run,
    )
    return result
