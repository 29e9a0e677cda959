"""Reads for the upstream registry and the vault."""

from django.apps import apps
from django.db import models

from apps.upstream import crypto
from apps.upstream.fields import encrypted_fields
from apps.upstream.models import ApplicationUpstreamRequirement, UpstreamProvider


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
