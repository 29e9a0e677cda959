"""Changes to the upstream registry, connections and the vault: audited, for the admin and commands alike."""

import logging
import operator
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any, NoReturn

import requests
from authlib.integrations.base_client.errors import OAuthError
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.upstream import client, crypto, flow
from apps.upstream.fields import encrypted_fields, needs_reseal, resealed, seal, unseal, vault_keys
from apps.upstream.models import (
    ApplicationUpstreamRequirement,
    Connection,
    ScopedToken,
    UpstreamIdentity,
    UpstreamProvider,
)
from apps.upstream.selectors import dependent_applications, encrypted_models

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who made a change: an administrator in the admin (`request`, `user`), or a command (`label`);
    a member on their own pages with `actor_type` USER."""

    request: HttpRequest | None = None
    user: Any = None
    label: str = ""
    actor_type: str = AuditEvent.ActorType.ADMIN

    def record(self, event: AuditEvent.Event, **details: Any) -> None:
        record(
            event,
            request=self.request,
            user=self.user,
            actor_type=self.actor_type,
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
    try:
        tokens += [
            (unseal(scoped, "access_token"), "access_token") for scoped in connection.scoped_tokens.all()
        ]
    except crypto.VaultError:
        logger.exception("upstream.scoped_token_undecryptable", extra={"connection": str(connection.pk)})
    return _revoke_at_provider(provider, tokens, connection=str(connection.pk))


def _revoke_at_provider(provider: UpstreamProvider, tokens: list[tuple[str, str]], *, connection: str) -> str:
    """Revoke (token, type hint) pairs at the provider (RFC 7009), in order; what happened, never raises."""
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
            "upstream.revocation_failed", extra={"connection": connection, "provider": provider.slug}
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
        locked.expires_at = locked.refreshing_until = None
        locked.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "status",
                "expires_at",
                "refreshing_until",
                "updated",
            ]
        )
        ScopedToken.objects.filter(connection=locked).delete()
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


# --- Signing in with a provider, and linking it to a Latch account --------------------------------

PENDING_LINK = "_latch_upstream_link"  # session key: a sign-in waiting for the member's Latch password
LINK_MAX_AGE = 600
LINK_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class LinkOffer:
    """A first sign-in whose verified email is a Latch member's: the member confirms with their password."""

    user: Any


def _member_for_email(email: str) -> Any:
    """The active member whose Latch address is `email` and verified, or None.

    An unverified Latch address proves nothing: whoever put it on an account (an administrator's
    typo, an import) would otherwise be offered, or with `trust_email` given, its owner's sign-in.
    """
    if not email:
        return None
    User = get_user_model()
    return User.objects.filter(email__iexact=email, is_active=True, email_verified=True).first()


def sign_in_member(*, request: HttpRequest, provider: UpstreamProvider, result: flow.Result) -> Any:
    """The Latch member this upstream sign-in is, or a LinkOffer; FlowError when there is none.

    An identity is linked by (provider, subject) only (OIDC Core §5.7: an email is no identifier,
    it can change hands). Without a link, a Latch account with the email the provider asserts as
    verified can be linked: after the member confirms with their Latch password, or at once when
    an administrator set `trust_email` on the provider.
    """

    def refuse(reason: str, message: str) -> flow.FlowError:
        return flow.FlowError(reason, message, provider=provider.slug, purpose=flow.Purpose.SIGN_IN)

    identity = (
        UpstreamIdentity.objects.filter(provider=provider, subject=result.subject)
        .select_related("user")
        .first()
    )
    if identity is not None:
        if not identity.user.is_active:
            raise refuse("inactive_account", "This Latch account is disabled.")
        UpstreamIdentity.objects.filter(pk=identity.pk).update(last_used_at=timezone.now())
        return identity.user
    no_account = (
        f"There is no Latch account for this {provider.name} sign-in. If you have one, sign in with "
        f"your email and password, then link {provider.name} on your account page."
    )
    if not result.email_verified:
        raise refuse("email_not_verified" if result.email else "not_linked", no_account)
    user = _member_for_email(result.email)
    if user is None:
        raise refuse("no_account", no_account)
    if provider.trust_email:
        identity_link(
            request=request, user=user, provider=provider, subject=result.subject, how="trusted_email"
        )
        return user
    return LinkOffer(user=user)


def link_offer_remember(
    *, request: HttpRequest, provider: UpstreamProvider, subject: str, user: Any, next_url: str = ""
) -> None:
    request.session[PENDING_LINK] = {
        "provider": provider.slug,
        "subject": subject,
        "user": str(user.pk),
        "next": next_url,
        "created": time.time(),
        "attempts": 0,
    }


def link_offer(request: HttpRequest, provider: UpstreamProvider) -> tuple[Any, str, str] | None:
    """(member, subject, next URL) of this browser's sign-in waiting for a password, unless expired."""
    offer = request.session.get(PENDING_LINK)
    if not isinstance(offer, dict) or offer.get("provider") != provider.slug:
        return None
    if time.time() - offer.get("created", 0) > LINK_MAX_AGE or offer.get("attempts", 0) >= LINK_MAX_ATTEMPTS:
        request.session.pop(PENDING_LINK, None)
        return None
    user = get_user_model().objects.filter(pk=str(offer.get("user", "")), is_active=True).first()
    return (user, offer["subject"], offer.get("next", "")) if user is not None else None


def link_offer_attempt_failed(request: HttpRequest) -> int:
    """Count a wrong password; returns the attempts left (0: the offer is gone)."""
    offer = request.session.get(PENDING_LINK)
    if not isinstance(offer, dict):
        return 0
    offer["attempts"] = offer.get("attempts", 0) + 1
    if offer["attempts"] >= LINK_MAX_ATTEMPTS:
        request.session.pop(PENDING_LINK, None)
        return 0
    request.session[PENDING_LINK] = offer
    return LINK_MAX_ATTEMPTS - offer["attempts"]


def link_offer_forget(request: HttpRequest) -> None:
    request.session.pop(PENDING_LINK, None)


def identity_link(
    *, request: HttpRequest, user: Any, provider: UpstreamProvider, subject: str, how: str
) -> UpstreamIdentity:
    """Link (provider, subject) to `user`; FlowError when it is another member's already."""
    try:
        with transaction.atomic():
            identity, created = UpstreamIdentity.objects.get_or_create(
                provider=provider, subject=subject, defaults={"user": user}
            )
    except IntegrityError:
        identity, created = UpstreamIdentity.objects.get(provider=provider, subject=subject), False
    if identity.user_id != user.pk:
        raise flow.FlowError(
            "linked_to_another_account",
            f"This {provider.name} account is already linked to another Latch account.",
            provider=provider.slug,
            purpose=flow.Purpose.LINK,
        )
    if created:
        record(AuditEvent.Event.UPSTREAM_LINKED, request=request, user=user, provider=provider.slug, how=how)
    return identity


def identity_unlink(*, request: HttpRequest, user: Any, provider: UpstreamProvider) -> int:
    """Remove the member's links to `provider`; refuses to remove their only way to sign in."""
    identities = UpstreamIdentity.objects.filter(user=user, provider=provider)
    if (
        not user.has_usable_password()
        and not UpstreamIdentity.objects.filter(user=user).exclude(provider=provider).exists()
    ):
        raise ValidationError(
            f"{provider.name} is your only way to sign in: set a password first (Forgot your password?)."
        )
    removed, _ = identities.delete()
    if removed:
        record(AuditEvent.Event.UPSTREAM_UNLINKED, request=request, user=user, provider=provider.slug)
    return removed


def flow_failed(*, request: HttpRequest, error: flow.FlowError, user: Any = None) -> None:
    record(
        AuditEvent.Event.UPSTREAM_FAILED,
        request=request,
        user=user,
        provider=error.provider,
        purpose=error.purpose,
        reason=error.reason,
    )


# --- Connecting an account (the vault) ------------------------------------------------------------


def connect_scopes(*, user: Any, provider: UpstreamProvider, requested: list[str]) -> list[str]:
    """Scope aggregation: the provider's default scopes, what the member granted already, and the new ones.

    Asking for the union means the provider prompts only for what is new (if it remembers the
    rest), and the new token still covers what older apps use.
    """
    granted: list[str] = []
    connection = Connection.objects.filter(
        user=user, provider=provider, status=Connection.Status.ACTIVE
    ).first()
    if connection is not None:
        granted = list(connection.scopes)
    return list(dict.fromkeys([*provider.default_scopes, *granted, *requested]))


def _expires_at(token: dict[str, Any]) -> datetime | None:
    expires_at = token.get("expires_at")
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
        return datetime.fromtimestamp(expires_at, tz=UTC)
    return None


def connection_store(
    *, request: HttpRequest, user: Any, provider: UpstreamProvider, result: flow.Result
) -> Connection:
    """Keep the tokens of a finished connect, sealed; the connection is active with the granted scopes.

    A provider that sends no new refresh token (some do so only the first time) leaves the one
    Latch holds in place. An account that is not the member's (`_another_account`) is refused with
    FlowError: nothing is stored, and its new tokens are revoked where the provider can.
    """
    with transaction.atomic():
        connection = Connection.objects.select_for_update().filter(
            user=user, provider=provider
        ).first() or Connection(user=user, provider=provider)
        refusal = _another_account(user=user, provider=provider, connection=connection, result=result)
        if not refusal:
            _connection_keep(request=request, connection=connection, result=result)
    if refusal:
        _connect_refused(provider=provider, result=result, message=refusal)  # outside the transaction
    return connection


def _another_account(
    *, user: Any, provider: UpstreamProvider, connection: Connection, result: flow.Result
) -> str:
    """Why the account the provider answered with is not this member's to connect ("" when it is).

    The member is one account at a provider (OIDC Core §5.7: iss and sub): the one they sign in with,
    and the one connected already (until they disconnect it). Connecting another (signed in at the
    provider as someone else, or tricked into it) would hand apps that account's data as theirs.
    """
    account = result.account or "you signed in with there"
    if result.subject and (
        UpstreamIdentity.objects.filter(provider=provider, subject=result.subject).exclude(user=user).exists()
    ):
        return (
            f"The {provider.name} account {account} signs in to another Latch account. Nothing was connected."
        )
    again = f"Nothing was connected: sign out at {provider.name}, then connect again with your own account."
    signs_in = set(
        UpstreamIdentity.objects.filter(user=user, provider=provider).values_list("subject", flat=True)
    )
    if signs_in and result.subject not in signs_in:
        return f"The {provider.name} account {account} is not the one you sign in with. {again}"
    if (
        connection.subject
        and connection.status != Connection.Status.REVOKED
        and result.subject != connection.subject
    ):
        return (
            f"The {provider.name} account {account} is not the one connected already "
            f"({connection.account or connection.subject}). {again} To change accounts, disconnect first."
        )
    return ""


def _connect_refused(*, provider: UpstreamProvider, result: flow.Result, message: str) -> NoReturn:
    """Revoke the refused account's new tokens at the provider, which Latch does not keep; FlowError."""
    tokens = [(result.token.get(hint), hint) for hint in ("refresh_token", "access_token")]
    upstream = _revoke_at_provider(
        provider, [(token, hint) for token, hint in tokens if isinstance(token, str)], connection="-"
    )
    logger.warning(
        "upstream.connect_another_account", extra={"provider": provider.slug, "upstream": upstream}
    )
    raise flow.FlowError("another_account", message, provider=provider.slug, purpose=flow.Purpose.CONNECT)


def _connection_keep(*, request: HttpRequest, connection: Connection, result: flow.Result) -> None:
    """The connect's tokens sealed into `connection` (under its row lock), and the account it is."""
    token = result.token
    seal(connection, "access_token", token["access_token"])
    if isinstance(token.get("refresh_token"), str) and token["refresh_token"]:
        seal(connection, "refresh_token", token["refresh_token"])
    connection.scopes = result.granted_scopes
    connection.status = Connection.Status.ACTIVE
    connection.token_type = str(token.get("token_type") or "Bearer")[:40]
    connection.expires_at = _expires_at(token)
    connection.token_obtained_at = timezone.now()
    connection.refreshing_until = None  # a refresh still running for the old tokens must not write
    if result.subject:
        connection.subject = result.subject[:255]
        connection.account = result.account[:255]
    connection.save()
    # Narrowed from the tokens just replaced: the new grant may differ, and the old be revoked.
    ScopedToken.objects.filter(connection=connection).delete()
    record(
        AuditEvent.Event.CONNECTION_CONNECTED,
        request=request,
        user=connection.user,
        provider=connection.provider_id,
        connection=str(connection.pk),
        scopes=connection.scopes,
    )


# --- The vault: an app asks for the member's upstream access token --------------------------------

# A token expiring sooner than this is refreshed first; a token that lives shorter than twice this
# is refreshed in its second half instead, so that not every request refreshes it.
REFRESH_MARGIN = timedelta(seconds=60)
# Scopes a narrowed token keeps when the member granted them: they grant no access of their own.
KEEPS_REFRESH = ("offline_access",)


class VaultRefused(Exception):
    """The app may not have this: no requirement for the provider, or scopes beyond it (403)."""

    def __init__(self, message: str, *, code: str = "access_denied") -> None:
        self.code = code
        super().__init__(message)


class NotConnected(Exception):
    """The member's connection is missing, not active or lacks scopes; the requirement says what next."""

    def __init__(
        self, *, reason: str, requirement: ApplicationUpstreamRequirement, scopes: list[str]
    ) -> None:
        self.reason = reason  # not_connected, expired, revoked, missing_scopes
        self.requirement = requirement
        self.scopes = scopes
        super().__init__(reason)


class VaultUnavailable(Exception):
    """The provider could not refresh the token just now (timeout, unreachable, 5xx); nothing changed."""


class ScopesNotNarrowed(Exception):
    """The provider cannot give a token limited to the app's scopes, and may not exceed them (403).

    RFC 6750 §3.1 `insufficient_scope`: the token Latch could hand out carries more than the app
    declared, which the provider's `tokens_may_exceed_scopes` does not allow.
    """

    def __init__(self, message: str, *, scopes: list[str], provider_scopes: list[str] | None) -> None:
        self.scopes = scopes
        self.provider_scopes = provider_scopes  # what the provider answered with; None: it did not say
        super().__init__(message)


@dataclass(frozen=True)
class VaultToken:
    access_token: str = field(repr=False)
    token_type: str
    expires_at: datetime | None
    scopes: list[str]


def _covers(connection: Connection | None, scopes: list[str]) -> str:
    """Why `connection` cannot serve `scopes` ("" when it can)."""
    if connection is None:
        return "not_connected"
    if connection.status != Connection.Status.ACTIVE:
        return str(connection.status)
    if not set(scopes) <= set(connection.scopes):
        return "missing_scopes"
    return ""


def _expiring(token: Connection | ScopedToken) -> bool:
    if token.expires_at is None:
        return False
    margin = REFRESH_MARGIN
    if token.token_obtained_at is not None:
        margin = min(margin, (token.expires_at - token.token_obtained_at) / 2)
    return token.expires_at <= timezone.now() + margin


def _can_refresh(connection: Connection) -> bool:
    return (
        UpstreamProvider.GrantType.REFRESH_TOKEN in connection.provider.grant_types
        and connection.refresh_token != ""
    )


def connection_token(*, user: Any, application: Any, provider_slug: str, scopes: list[str]) -> VaultToken:
    """The member's upstream access token for `application`, limited to the scopes asked for.

    The connection's own token carries every scope the member granted (apps share the connection).
    An app asking for fewer gets a token narrowed to them (`_scoped_token`); where the provider
    cannot narrow it, ScopesNotNarrowed, unless the provider is marked `tokens_may_exceed_scopes`.
    A token close to expiry is refreshed first.

    Raises UpstreamProvider.DoesNotExist (unknown or disabled provider), VaultRefused (the app did
    not declare the provider, or asks beyond its declared scopes), NotConnected (what the app's
    `on_missing` says to do), ScopesNotNarrowed, VaultUnavailable (a refresh that failed for now).
    Two requests for an expiring token refresh it once: the first takes the connection's refresh
    lease, the second waits for its result (`_under_refresh_lease`); no transaction or row lock is
    held while the provider answers.
    """
    provider = UpstreamProvider.objects.get(slug=provider_slug, enabled=True)
    requirement = (
        ApplicationUpstreamRequirement.objects.filter(application=application, provider=provider)
        .select_related("provider")
        .first()
    )
    if requirement is None:
        raise VaultRefused(
            f"This app has not declared that it uses {provider.name} (ask Latch's administrators)."
        )
    scopes = list(dict.fromkeys(scopes)) or list(requirement.scopes)
    beyond = sorted(set(scopes) - set(requirement.scopes))
    if beyond:
        raise VaultRefused(
            f"Not among the {provider.name} scopes this app declared: {', '.join(beyond)}.",
            code="invalid_scope",
        )
    connection = (
        Connection.objects.filter(user=user, provider=provider).select_related("provider", "user").first()
    )
    reason = _covers(connection, scopes)
    if connection is None or reason:
        raise NotConnected(reason=reason, requirement=requirement, scopes=scopes)
    if set(connection.scopes) - set(scopes) - set(KEEPS_REFRESH):
        if _can_refresh(connection):
            return _scoped_token(connection, scopes=scopes, requirement=requirement)
        if not provider.tokens_may_exceed_scopes:
            raise ScopesNotNarrowed(
                f"{provider.name} cannot narrow the member's token to {' '.join(scopes)} (it cannot be "
                "refreshed), and its tokens may not carry more scopes than asked.",
                scopes=scopes,
                provider_scopes=None,
            )
    if _expiring(connection):
        connection = _connection_refresh(connection)
        if reason := _covers(connection, scopes):
            raise NotConnected(reason=reason, requirement=requirement, scopes=scopes)
    return _hand_out(connection, connection)


def _hand_out(connection: Connection, token: Connection | ScopedToken) -> VaultToken:
    """`token` (the connection's own, or one narrowed from it) decrypted for the app; the use recorded."""
    try:
        access = unseal(token, "access_token")
    except crypto.VaultError:
        logger.exception("upstream.connection_undecryptable", extra={"connection": str(connection.pk)})
        raise VaultUnavailable("The stored token cannot be read.") from None
    Connection.objects.filter(pk=connection.pk).update(last_used_at=timezone.now())
    return VaultToken(
        access_token=access,
        token_type=token.token_type,
        expires_at=token.expires_at,
        scopes=list(token.scopes),
    )


def _kept_scoped_token(connection: Connection, key: str) -> ScopedToken | None:
    """The token of `connection` narrowed to the scope set `key`, as kept from an earlier request."""
    return ScopedToken.objects.filter(connection=connection, scope_key=key).first()


def _scoped_token(
    connection: Connection, *, scopes: list[str], requirement: ApplicationUpstreamRequirement
) -> VaultToken:
    """A token of `connection` for `scopes` only: kept from an earlier request, or narrowed now.

    Kept (ScopedToken, sealed) rather than obtained on each request: a refresh per request would
    make every vault call wait for the provider and, at providers that rotate refresh tokens,
    rotate on each call.
    """
    key = " ".join(sorted(scopes))
    kept = _kept_scoped_token(connection, key)
    if kept is None or _expiring(kept):
        kept = _scoped_token_obtain(connection, scopes=scopes, key=key, requirement=requirement)
    return _hand_out(connection, kept)


def _granted_scopes(token: dict[str, Any]) -> list[str] | None:
    scope = token.get("scope")
    return list(dict.fromkeys(scope.split())) if isinstance(scope, str) else None


def _scoped_token_obtain(
    connection: Connection, *, scopes: list[str], key: str, requirement: ApplicationUpstreamRequirement
) -> ScopedToken:
    """RFC 6749 §6 with `scope`: a new access token for `scopes` only, checked against the answer.

    The provider must say which scopes it granted: an answer without `scope` (RFC 6749 §5.1 lets
    it mean "as asked", but a provider that ignores `scope` answers the same way) or with more
    than asked is not narrowed, and is refused unless the provider's `tokens_may_exceed_scopes`.
    Fewer than asked: the member's grant shrank, the member must connect again. A new refresh token
    in the answer replaces the connection's (it has the same scope, RFC 6749 §6) even when the
    narrowed token is refused: the old one may be dead by now.
    """

    def ready(current: Connection) -> ScopedToken | None:
        if current.status != Connection.Status.ACTIVE:
            raise NotConnected(reason=str(current.status), requirement=requirement, scopes=scopes)
        kept = _kept_scoped_token(current, key)
        return kept if kept is not None and not _expiring(kept) else None

    def meanwhile(current: Connection) -> ScopedToken | None:
        kept = _kept_scoped_token(current, key)
        return kept if kept is not None and _still_valid(kept) else None

    def narrow(current: Connection, lease: datetime) -> ScopedToken:
        return _scoped_token_narrow(current, lease, scopes=scopes, key=key, requirement=requirement)

    return _under_refresh_lease(connection, ready=ready, spend=narrow, meanwhile=meanwhile)


def _scoped_token_narrow(
    current: Connection,
    lease: datetime,
    *,
    scopes: list[str],
    key: str,
    requirement: ApplicationUpstreamRequirement,
) -> ScopedToken:
    """The refresh with `scope` (no transaction open), then what its answer means, written under the lease."""
    provider = current.provider
    refresh = _unseal_refresh_token(current)
    # OIDC Core §11: a refresh token comes with offline_access; narrowed without it, a provider may
    # rotate the refresh token and send no new one (Latch itself does), ending the connection.
    asked = [*scopes, *(scope for scope in KEEPS_REFRESH if scope in current.scopes and scope not in scopes)]
    token = _refresh_grant(current, refresh, scopes=asked)
    if token is None:
        _connection_expire(current, lease, reason="invalid_grant")
        raise NotConnected(reason="expired", requirement=requirement, scopes=scopes)
    granted = _granted_scopes(token)
    outcome: ScopedToken | Exception
    with _holding_lease(current, lease) as held:
        if held:
            _keep_rotated_refresh_token(current, token, refresh)
            if granted is None or not set(granted) <= set(asked):
                if provider.tokens_may_exceed_scopes:
                    outcome = _scoped_token_keep(current, key, token, granted or list(current.scopes))
                else:
                    outcome = ScopesNotNarrowed(
                        f"{provider.name} did not narrow the member's token to {' '.join(scopes)}, and "
                        "its tokens may not carry more scopes than asked.",
                        scopes=scopes,
                        provider_scopes=granted,
                    )
            elif not set(scopes) <= set(granted):
                outcome = NotConnected(reason="missing_scopes", requirement=requirement, scopes=scopes)
            else:
                outcome = _scoped_token_keep(current, key, token, granted)
    if not held:  # after the transaction: revoking the provider's new tokens is an HTTP call
        outcome = _refresh_lost(current, token, refresh, requirement=requirement, scopes=scopes)
    if isinstance(outcome, Exception):
        logger.warning(
            "upstream.not_narrowed",
            extra={"connection": str(current.pk), "provider": provider.slug, "scopes": scopes},
        )
        raise outcome  # after the transaction: a rotated refresh token is kept
    logger.info("upstream.narrowed", extra={"connection": str(current.pk), "provider": provider.slug})
    return outcome


def _scoped_token_keep(
    connection: Connection, key: str, token: dict[str, Any], granted: list[str]
) -> ScopedToken:
    kept = _kept_scoped_token(connection, key) or ScopedToken(connection=connection, scope_key=key)
    seal(kept, "access_token", token["access_token"])
    kept.scopes = granted
    kept.token_type = str(token.get("token_type") or "Bearer")[:40]
    kept.expires_at = _expires_at(token)
    kept.token_obtained_at = timezone.now()
    kept.save()
    return kept


def _seal_rotated_refresh_token(locked: Connection, token: dict[str, Any], refresh: str) -> bool:
    """RFC 6749 §6: a new refresh token in the answer replaces the old (without one, the old stays
    valid); True when it did. Sealed on `locked`, for its caller to save.

    A provider that rotates may have revoked every access token issued with the old refresh token
    (django-oauth-toolkit does): the narrowed tokens are dropped, to be obtained again when next asked.
    """
    if not isinstance(token.get("refresh_token"), str) or token["refresh_token"] == refresh:
        return False
    seal(locked, "refresh_token", token["refresh_token"])
    ScopedToken.objects.filter(connection=locked).delete()
    return True


def _keep_rotated_refresh_token(locked: Connection, token: dict[str, Any], refresh: str) -> None:
    """A new refresh token from a narrowing refresh, stored; the connection's own access token,
    obtained with the old one, is suspect too and is refreshed at its next use."""
    if _seal_rotated_refresh_token(locked, token, refresh):
        locked.expires_at = timezone.now()
        locked.save(update_fields=["refresh_token", "expires_at", "updated"])


def _unseal_refresh_token(locked: Connection) -> str:
    try:
        return unseal(locked, "refresh_token")
    except crypto.VaultError:
        logger.exception("upstream.connection_undecryptable", extra={"connection": str(locked.pk)})
        raise VaultUnavailable("The stored token cannot be read.") from None


def _refresh_grant(
    locked: Connection, refresh: str, *, scopes: list[str] | None = None
) -> dict[str, Any] | None:
    """RFC 6749 §6 at the provider (with `scope` when given); None: invalid_grant, the refresh token is dead.

    Anything else (timeout, unreachable, a 5xx, another error, no access token) raises
    VaultUnavailable.
    """
    provider = locked.provider
    extra = {"scope": " ".join(scopes)} if scopes else {}
    try:
        with client.provider_session(provider) as session:
            token = dict(session.refresh_token(provider.token_endpoint, refresh_token=refresh, **extra))
    except OAuthError as exc:
        if exc.error == "invalid_grant":
            return None
        logger.warning(
            "upstream.refresh_refused",
            extra={"connection": str(locked.pk), "provider": provider.slug, "error": exc.error},
        )
        raise VaultUnavailable(f"{provider.name} refused the refresh ({exc.error}).") from None
    except (requests.RequestException, ValueError) as exc:
        logger.warning(
            "upstream.refresh_failed",
            extra={"connection": str(locked.pk), "provider": provider.slug, "problem": type(exc).__name__},
        )
        raise VaultUnavailable(f"{provider.name} could not refresh the token just now.") from None
    if not isinstance(token.get("access_token"), str):
        raise VaultUnavailable(f"{provider.name} sent no access token.")
    return token


def _connection_expire(current: Connection, lease: datetime, *, reason: str) -> None:
    """The connection cannot be refreshed any more: its dead tokens are deleted, the member must connect."""
    with _holding_lease(current, lease) as held:
        if not held:
            return  # disconnected meanwhile, or another request took over: nothing of this one's to end
        current.status = Connection.Status.EXPIRED
        current.access_token = current.refresh_token = ""
        current.save(update_fields=["status", "access_token", "refresh_token", "updated"])
        ScopedToken.objects.filter(connection=current).delete()
        record(
            AuditEvent.Event.CONNECTION_EXPIRED,
            user=current.user,
            provider=current.provider_id,
            connection=str(current.pk),
            reason=reason,
        )


# --- The refresh lease: who may spend the refresh token, without a transaction across the HTTP call ---

# How long a request waits for another's refresh before handing out the still-valid token, or 503.
REFRESH_WAIT_SECONDS = 3.0
REFRESH_POLL_SECONDS = 0.05


def _lease_length() -> timedelta:
    """A refresh's longest wait for the provider (connect, then read, each up to the timeout), and a margin.

    A request that dies while holding the lease (a killed worker) leaves it to lapse after this.
    """
    return timedelta(seconds=2 * settings.LATCH_UPSTREAM_TIMEOUT + 5)


def _connection_read(pk: Any) -> Connection:
    return Connection.objects.select_related("provider", "user").get(pk=pk)


def _lease_claim(connection: Connection) -> datetime | None:
    """Take the lease if nobody holds it (or theirs lapsed): one compare-and-swap UPDATE, no lock held.

    The lease's end is its owner's token: the write-back and the release compare it.
    """
    now = timezone.now()
    lease = now + _lease_length()
    free = Q(refreshing_until__isnull=True) | Q(refreshing_until__lte=now)
    claimed = Connection.objects.filter(free, pk=connection.pk, status=Connection.Status.ACTIVE).update(
        refreshing_until=lease
    )
    return lease if claimed else None


def _lease_release(connection: Connection, lease: datetime) -> None:
    Connection.objects.filter(pk=connection.pk, refreshing_until=lease).update(refreshing_until=None)


@contextmanager
def _holding_lease(connection: Connection, lease: datetime) -> Iterator[bool]:
    """A short transaction with the row locked: True while the lease is still this request's and the
    connection still active (a disconnect meanwhile, or a lapsed lease, makes it False)."""
    with transaction.atomic():
        yield (
            Connection.objects.select_for_update()
            .filter(pk=connection.pk, status=Connection.Status.ACTIVE, refreshing_until=lease)
            .exists()
        )


def _under_refresh_lease[T](
    connection: Connection,
    *,
    ready: Callable[[Connection], T | None],
    spend: Callable[[Connection, datetime], T],
    meanwhile: Callable[[Connection], T | None],
) -> T:
    """Run `spend` (which uses the refresh token at the provider) holding the connection's refresh lease.

    `ready(connection)` is the result without spending, if there is one already (another request
    just refreshed, or the connection ended). A request finding the lease taken polls for up to
    REFRESH_WAIT_SECONDS for that request's result; after that, `meanwhile(connection)` (a token
    that is still valid) or VaultUnavailable. The lease is released however `spend` ends.
    """
    deadline = time.monotonic() + REFRESH_WAIT_SECONDS
    current = connection
    while True:
        current = _connection_read(current.pk)
        if (result := ready(current)) is not None:
            return result
        if (lease := _lease_claim(current)) is not None:
            try:
                current = _connection_read(current.pk)
                if (result := ready(current)) is not None:
                    return result  # finished by another request between the read and the claim
                return spend(current, lease)
            finally:
                _lease_release(current, lease)
        if time.monotonic() >= deadline:
            break
        time.sleep(REFRESH_POLL_SECONDS)
    if (result := meanwhile(current)) is not None:
        return result
    raise VaultUnavailable(f"{current.provider.name} is still refreshing the token for another request.")


def _refresh_lost(
    current: Connection,
    token: dict[str, Any],
    refresh: str,
    *,
    requirement: ApplicationUpstreamRequirement | None = None,
    scopes: list[str] | None = None,
) -> Exception:
    """The provider answered, but the lease is no longer this request's: nothing of the answer is kept.

    Disconnected meanwhile: the tokens the provider just issued are revoked there too (the
    disconnect revoked only those Latch held). A lapsed lease another request took over: its
    tokens are the connection's now; these are only dropped, since revoking a refresh token may
    end the whole grant at some providers.
    """
    status = Connection.objects.filter(pk=current.pk).values_list("status", flat=True).first()
    if status != Connection.Status.ACTIVE:
        new = [(token.get("refresh_token"), "refresh_token"), (token.get("access_token"), "access_token")]
        upstream = _revoke_at_provider(
            current.provider,
            [(value, hint) for value, hint in new if isinstance(value, str) and value != refresh],
            connection=str(current.pk),
        )
        logger.warning(
            "upstream.refresh_after_disconnect", extra={"connection": str(current.pk), "upstream": upstream}
        )
        if requirement is not None:
            return NotConnected(
                reason=str(status or "not_connected"), requirement=requirement, scopes=scopes or []
            )
    else:
        logger.warning("upstream.refresh_lease_lapsed", extra={"connection": str(current.pk)})
    return VaultUnavailable(f"{current.provider.name} took too long to refresh the token.")


def _connection_refresh(connection: Connection) -> Connection:
    """RFC 6749 §6 under the refresh lease; returns the connection as it is afterwards (maybe expired).

    invalid_grant (the refresh token expired or was revoked upstream) is final: the connection turns
    expired and its dead tokens are deleted. Anything else (timeout, unreachable, a 5xx) raises
    VaultUnavailable and changes nothing. Two requests for an expiring token refresh it once: the
    second waits for the first's result (or hands out the token while it is still valid).
    """

    def ready(current: Connection) -> Connection | None:
        return current if current.status != Connection.Status.ACTIVE or not _expiring(current) else None

    def meanwhile(current: Connection) -> Connection | None:
        return current if _still_valid(current) else None

    return _under_refresh_lease(connection, ready=ready, spend=_connection_refresh_spend, meanwhile=meanwhile)


def _still_valid(token: Connection | ScopedToken) -> bool:
    return token.expires_at is None or token.expires_at > timezone.now()


def _connection_refresh_spend(current: Connection, lease: datetime) -> Connection:
    if not _can_refresh(current):
        if not _still_valid(current):
            _connection_expire(current, lease, reason="no_refresh_token")
        return _connection_read(current.pk)  # else: cannot be refreshed, but valid for a little while
    refresh = _unseal_refresh_token(current)
    token = _refresh_grant(current, refresh)
    if token is None:
        _connection_expire(current, lease, reason="invalid_grant")
        return _connection_read(current.pk)
    with _holding_lease(current, lease) as held:
        if held:
            seal(current, "access_token", token["access_token"])
            _seal_rotated_refresh_token(current, token, refresh)
            if (granted := _granted_scopes(token)) is not None:
                current.scopes = granted
            current.expires_at = _expires_at(token)
            current.token_type = str(token.get("token_type") or current.token_type)[:40]
            current.last_refreshed_at = current.token_obtained_at = timezone.now()
            current.save(
                update_fields=[
                    "access_token",
                    "refresh_token",
                    "scopes",
                    "expires_at",
                    "token_type",
                    "last_refreshed_at",
                    "token_obtained_at",
                    "updated",
                ]
            )
    if not held:
        lost = _refresh_lost(current, token, refresh)
        if Connection.objects.filter(pk=current.pk, status=Connection.Status.ACTIVE).exists():
            raise lost
        return _connection_read(current.pk)
    logger.info("upstream.refreshed", extra={"connection": str(current.pk), "provider": current.provider_id})
    return current
