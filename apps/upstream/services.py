"""Changes to the upstream registry, connections and the vault: audited, for the admin and commands alike."""

import logging
import operator
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.http import HttpRequest

from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.upstream import client, crypto
from apps.upstream.fields import encrypted_fields, needs_reseal, resealed, seal, unseal, vault_keys
from apps.upstream.models import Connection, UpstreamProvider
from apps.upstream.selectors import dependent_applications, encrypted_models

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who made a change: an administrator in the admin (`request`, `user`), or a command (`label`)."""

    request: HttpRequest | None = None
    user: Any = None
    label: str = ""

    def record(self, event: AuditEvent.Event, **details: Any) -> None:
        record(
            event,
            request=self.request,
            user=self.user,
            actor_type=AuditEvent.ActorType.ADMIN,
            actor_label=self.label,
            **details,
        )


COMMAND = Actor(label="manage.py")
# What saving a provider without a new secret leaves alone.
KEPT = frozenset({"slug", "client_secret", "created"})


class ProviderInUse(Exception):
    """The provider cannot be removed: applications declare they need it."""

    def __init__(self, provider: UpstreamProvider, applications: list[str]) -> None:
        self.applications = applications
        super().__init__(
            f"{provider.name} cannot be removed: {', '.join(applications)} "
            f"{'needs' if len(applications) == 1 else 'need'} it. Remove "
            f"{'that requirement' if len(applications) == 1 else 'those requirements'} first "
            "(admin: Application upstream requirements)."
        )


# --- The provider registry -------------------------------------------------------------------------


@transaction.atomic
def provider_save(
    *, provider: UpstreamProvider, client_secret: str | None, changed: list[str], actor: Actor
) -> UpstreamProvider:
    """Create or update `provider` (validated first); a new `client_secret` is sealed, None keeps the old.

    Audited: provider added, or changed with the names of the fields that changed; a new secret
    separately. Never the secret itself.
    """
    adding = provider._state.adding
    if client_secret is not None:
        seal(provider, "client_secret", client_secret)
    if not provider.has_client_secret:
        raise ValidationError({"client_secret": "A client secret is required."})
    provider.full_clean()
    if adding or client_secret is not None:
        provider.save()
    else:
        # Not the secret's column: a concurrent vault_rekey may have just re-encrypted it.
        provider.save(update_fields=[f.name for f in provider._meta.concrete_fields if f.name not in KEPT])
    fields = sorted(name for name in changed if name != "client_secret")
    if adding:
        actor.record(
            AuditEvent.Event.UPSTREAM_PROVIDER_ADDED,
            provider=provider.slug,
            name=provider.name,
            issuer=provider.issuer,
            allow_sign_in=provider.allow_sign_in,
            enabled=provider.enabled,
        )
    elif fields:
        actor.record(AuditEvent.Event.UPSTREAM_PROVIDER_CHANGED, provider=provider.slug, fields=fields)
    if client_secret is not None and not adding:
        actor.record(AuditEvent.Event.UPSTREAM_CLIENT_SECRET_CHANGED, provider=provider.slug)
    return provider


@transaction.atomic
def provider_remove(*, provider: UpstreamProvider, actor: Actor) -> None:
    """Delete `provider` with its members' identities and connections; ProviderInUse while apps need it."""
    provider = UpstreamProvider.objects.select_for_update().get(pk=provider.pk)
    if applications := dependent_applications(provider):
        raise ProviderInUse(provider, applications)
    identities, connections = provider.identities.count(), provider.connections.count()
    slug = provider.slug  # delete() sets the primary key, the slug, to None
    try:
        provider.delete()
    except models.ProtectedError as exc:  # a requirement added since the check above
        raise ProviderInUse(provider, dependent_applications(provider)) from exc
    actor.record(
        AuditEvent.Event.UPSTREAM_PROVIDER_REMOVED,
        provider=slug,
        name=provider.name,
        identities=identities,
        connections=connections,
    )


# --- Connections -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevokeOutcome:
    revoked: bool  # False: the connection was revoked already
    upstream: str  # what the provider said, for the administrator or member


def _revoke_upstream(connection: Connection) -> str:
    """Revoke the stored tokens at the provider (RFC 7009), refresh token first; never raises."""
    provider = connection.provider
    try:
        tokens = [
            (unseal(connection, "refresh_token"), "refresh_token"),
            (unseal(connection, "access_token"), "access_token"),
        ]
    except crypto.VaultError:
        logger.exception("upstream.connection_undecryptable", extra={"connection": str(connection.pk)})
        return "not revoked at the provider: the stored tokens do not decrypt"
    tokens = [(token, hint) for token, hint in tokens if token]
    if not tokens:
        return "no tokens were stored"
    if not provider.revocation_endpoint:
        return f"{provider.name} has no revocation endpoint: its tokens expire on their own"
    try:
        for token, hint in tokens:
            client.revoke_token(provider, token=token, token_type_hint=hint)
    except (client.UpstreamError, crypto.VaultError) as exc:
        logger.warning(
            "upstream.revocation_failed", extra={"connection": str(connection.pk), "provider": provider.slug}
        )
        return f"not revoked at the provider: {exc}"
    return f"revoked at {provider.name}"


def connection_revoke(*, connection: Connection, actor: Actor) -> RevokeOutcome:
    """Revoke the tokens at the provider where it can, then delete them and mark the connection revoked.

    The provider is asked first, outside any transaction (it may take up to the timeout); whatever it
    answers, Latch then deletes the tokens it holds, so the connection is useless from this moment.
    """
    connection = Connection.objects.select_related("provider", "user").get(pk=connection.pk)
    if connection.status == Connection.Status.REVOKED:
        return RevokeOutcome(revoked=False, upstream="revoked already")
    upstream = _revoke_upstream(connection)
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        locked.access_token = locked.refresh_token = ""
        locked.status = Connection.Status.REVOKED
        locked.expires_at = None
        locked.save(update_fields=["access_token", "refresh_token", "status", "expires_at", "updated"])
        actor.record(
            AuditEvent.Event.CONNECTION_REVOKED,
            provider=connection.provider_id,
            member=str(connection.user.public_id),
            connection=str(connection.pk),
            upstream=upstream,
        )
    return RevokeOutcome(revoked=True, upstream=upstream)


# --- The vault: moving every value to the current key ------------------------------------------------


@dataclass
class RekeyReport:
    current: str
    values: int = 0  # values re-encrypted under the current key
    rows: int = 0
    batches: int = 0
    remaining: int = 0  # still under an older key afterwards: busy, or changed, during the run
    failed: list[str] = field(default_factory=list)  # "label pk: why", values that do not decrypt


def _stale(model: type[models.Model], current: str) -> Q:
    """Rows with a value under a key other than `current`."""
    prefix = crypto.kid_prefix(current)
    return reduce(
        operator.or_,
        (
            ~Q(**{encrypted.attname: ""}) & ~Q(**{f"{encrypted.attname}__startswith": prefix})
            for encrypted in encrypted_fields(model)
        ),
    )


def _rekey_batch(model: type[models.Model], *, after: Any, batch_size: int, report: RekeyReport) -> Any:
    """Re-encrypt one batch in its own transaction; returns the last primary key seen (None: done).

    Rows another transaction holds (a refresh writing new tokens) are skipped, not waited for; the
    update also only applies if the row still holds what was read (compare-and-swap), so a value
    written meanwhile is never overwritten with an older one, on databases without row locks too.
    """
    names = [encrypted.attname for encrypted in encrypted_fields(model)]
    with transaction.atomic():
        rows = model._default_manager.filter(_stale(model, report.current)).order_by("pk")
        if after is not None:
            rows = rows.filter(pk__gt=after)
        batch = list(rows.select_for_update(skip_locked=True)[:batch_size])
        for row in batch:
            try:
                new = {name: resealed(row, name) for name in names if needs_reseal(row, name)}
            except crypto.VaultError as exc:
                report.failed.append(f"{model._meta.label_lower} {row.pk}: {exc}")
                continue
            read = {name: getattr(row, name) for name in names}
            if model._default_manager.filter(pk=row.pk, **read).update(**new):
                report.rows += 1
                report.values += len(new)
    if not batch:
        return None
    report.batches += 1
    return batch[-1].pk


def vault_rekey(*, batch_size: int = 100, actor: Actor = COMMAND) -> RekeyReport:
    """Re-encrypt every value still under an older key with the current one, `batch_size` rows at a time.

    Idempotent: values already under the current key are not touched, so running it again only
    picks up what was skipped. No member re-authorizes: the plaintext never changes.
    """
    report = RekeyReport(current=vault_keys().current)
    for model in encrypted_models():
        after: Any = None
        while (after := _rekey_batch(model, after=after, batch_size=batch_size, report=report)) is not None:
            pass
        report.remaining += model._default_manager.filter(_stale(model, report.current)).count()
    actor.record(
        AuditEvent.Event.VAULT_REKEYED,
        current_kid=report.current,
        values_reencrypted=report.values,
        rows=report.rows,
        batches=report.batches,
        remaining=report.remaining,
        failures=len(report.failed),
    )
    return report
