import base64

import factory

from apps.upstream.crypto import VaultKeys
from apps.upstream.fields import seal
from apps.upstream.models import (
    ApplicationUpstreamRequirement,
    Connection,
    UpstreamIdentity,
    UpstreamProvider,
)
from tests.accounts.factories import UserFactory
from tests.oauth.factories import ApplicationFactory

ISSUER = "https://idp.example.edu"
SCOPES = [
    {"scope": "openid", "description": "Sign you in"},
    {"scope": "calendar.read", "description": "See your calendar"},
    {"scope": "calendar.write", "description": "Change your calendar"},
]


def vault_keys(*kids: str, current: str | None = None) -> VaultKeys:
    """Fixed, distinct keys per kid (deterministic: a test can build the same keys twice)."""
    return VaultKeys(current=current or kids[0], keys={kid: _key(kid) for kid in kids})


def _key(kid: str) -> bytes:
    return kid.encode().ljust(32, b"#")[:32]


def key_text(kid: str) -> str:
    """`kid:base64` as LATCH_VAULT_KEYS spells it, for a fixed 32-byte key."""
    return f"{kid}:{base64.b64encode(_key(kid)).decode()}"


class UpstreamProviderFactory(factory.django.DjangoModelFactory):
    """A provider with explicit endpoints; its plaintext client secret is on `.secret`."""

    class Meta:
        model = UpstreamProvider
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"idp{n}")
    name = factory.Sequence(lambda n: f"University {n}")
    issuer = factory.LazyAttribute(lambda p: f"https://{p.slug}.example.edu")
    authorization_endpoint = factory.LazyAttribute(lambda p: f"{p.issuer}/authorize")
    token_endpoint = factory.LazyAttribute(lambda p: f"{p.issuer}/token")
    revocation_endpoint = factory.LazyAttribute(lambda p: f"{p.issuer}/revoke")
    userinfo_endpoint = factory.LazyAttribute(lambda p: f"{p.issuer}/userinfo")
    jwks_uri = factory.LazyAttribute(lambda p: f"{p.issuer}/jwks")
    client_id = factory.Sequence(lambda n: f"latch-client-{n}")
    grant_types = factory.LazyFunction(lambda: list(UpstreamProvider.GrantType.values))
    default_scopes = factory.LazyFunction(lambda: ["openid"])
    available_scopes = factory.LazyFunction(lambda: [dict(entry) for entry in SCOPES])

    @classmethod
    def _create(cls, model_class, *args, secret: str = "", **kwargs):
        provider = model_class(*args, **kwargs)
        provider.secret = secret or f"upstream-secret-of-{provider.slug}-0123456789"
        seal(provider, "client_secret", provider.secret)
        provider.full_clean()
        provider.save()
        return provider


class UpstreamIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UpstreamIdentity

    user = factory.SubFactory(UserFactory)
    provider = factory.SubFactory(UpstreamProviderFactory)
    subject = factory.Sequence(lambda n: f"subject-{n}")


class ConnectionFactory(factory.django.DjangoModelFactory):
    """A connection with tokens; their plaintexts are on `.access` and `.refresh`."""

    class Meta:
        model = Connection

    user = factory.SubFactory(UserFactory)
    provider = factory.SubFactory(UpstreamProviderFactory)
    scopes = factory.LazyFunction(lambda: ["openid", "calendar.read"])

    @classmethod
    def _create(cls, model_class, *args, access: str = "", refresh: str = "", **kwargs):
        connection = model_class(*args, **kwargs)
        connection.access = access or f"upstream-access-{connection.pk}"
        connection.refresh = refresh or f"upstream-refresh-{connection.pk}"
        seal(connection, "access_token", connection.access)
        seal(connection, "refresh_token", connection.refresh)
        connection.save()
        return connection


class RequirementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApplicationUpstreamRequirement

    application = factory.SubFactory(ApplicationFactory)
    provider = factory.SubFactory(UpstreamProviderFactory)
    scopes = factory.LazyFunction(lambda: ["calendar.read"])
    on_missing = ApplicationUpstreamRequirement.OnMissing.PROMPT_CONNECT
