"""Reads for the upstream registry and the vault."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import models

from apps.upstream import crypto
from apps.upstream.fields import encrypted_fields
from apps.upstream.models import (
    ApplicationUpstreamRequirement,
    Connection,
    UpstreamIdentity,
    UpstreamProvider,
)


def dependent_applications(provider: UpstreamProvider) -> list[str]:
    """The names of the applications that declare they need `provider`."""
    return sorted(
        ApplicationUpstreamRequirement.objects.filter(provider=provider).values_list(
            "application__name", flat=True
        )
    )


def blocked_requirements(provider: UpstreamProvider) -> list[ApplicationUpstreamRequirement]:
    """Requirements with on_missing=error that `provider`, disabled, leaves unmet."""
    if provider.enabled:
        return []
    return list(
        provider.requirements.filter(
            on_missing=ApplicationUpstreamRequirement.OnMissing.ERROR
        ).select_related("application")
    )


def client_secret_status(provider: UpstreamProvider) -> str:
    """Whether the provider has a client secret, and under which key: never anything of the secret."""
    if not provider.has_client_secret:
        return "not set"
    if not crypto.is_blob(provider.client_secret):
        return "damaged: not a vault value, enter the secret again"
    return f"set (key {crypto.blob_kid(provider.client_secret)})"


def encrypted_models() -> list[type[models.Model]]:
    return sorted(
        (model for model in apps.get_models() if encrypted_fields(model)), key=lambda m: m._meta.label
    )


def values_under(kid: str) -> dict[str, int]:
    """How many values are encrypted under `kid`, by "model.field" (only those with any)."""
    counts: dict[str, int] = {}
    for model in encrypted_models():
        for encrypted in encrypted_fields(model):
            count = model._default_manager.filter(
                **{f"{encrypted.attname}__startswith": crypto.kid_prefix(kid)}
            ).count()
            if count:
                counts[f"{model._meta.label_lower}.{encrypted.name}"] = count
    return counts


# --- For members' pages ---------------------------------------------------------------------------


def sign_in_scopes(provider: UpstreamProvider) -> list[str]:
    """What a sign-in asks for: the provider's default scopes, with `openid` where it issues id_tokens."""
    scopes = list(provider.default_scopes)
    if provider.issuer and provider.jwks_uri and "openid" not in scopes:
        scopes.insert(0, "openid")
    return scopes


def sign_in_providers() -> list[UpstreamProvider]:
    """The providers the login page offers."""
    return list(UpstreamProvider.objects.filter(enabled=True, allow_sign_in=True))


@dataclass(frozen=True)
class SignInMethod:
    provider: UpstreamProvider
    linked: bool
    last_used_at: datetime | None


def sign_in_methods_for(user: Any) -> list[SignInMethod]:
    """For the account page: each provider the member may sign in with or has linked, and whether linked."""
    identities = {
        identity.provider_id: identity
        for identity in UpstreamIdentity.objects.filter(user=user).select_related("provider")
    }
    providers = {provider.slug: provider for provider in sign_in_providers()}
    providers.update({slug: identity.provider for slug, identity in identities.items()})
    return [
        SignInMethod(
            provider=provider,
            linked=slug in identities,
            last_used_at=identities[slug].last_used_at if slug in identities else None,
        )
        for slug, provider in sorted(providers.items(), key=lambda item: item[1].name)
    ]


@dataclass(frozen=True)
class MemberConnection:
    connection: Connection
    scope_descriptions: list[tuple[str, str]]
    applications: list[str]


def connections_for_member(user: Any) -> list[MemberConnection]:
    """Each of the member's connections, with the apps that use it: apps the member allowed (a Consent)
    that declare they need that provider."""
    connections = list(
        Connection.objects.filter(user=user).select_related("provider").order_by("provider__name")
    )
    needs: dict[str, list[str]] = {}
    for provider_id, name in (
        ApplicationUpstreamRequirement.objects.filter(
            provider__in=[c.provider_id for c in connections], application__consents__user=user
        )
        .order_by("application__name")
        .values_list("provider_id", "application__name")
        .distinct()
    ):
        needs.setdefault(provider_id, []).append(name)
    rows = []
    for connection in connections:
        described = {entry["scope"]: entry["description"] for entry in connection.provider.available_scopes}
        rows.append(
            MemberConnection(
                connection=connection,
                scope_descriptions=[(scope, described.get(scope, "")) for scope in connection.scopes],
                applications=needs.get(connection.provider_id, []),
            )
        )
    return rows
