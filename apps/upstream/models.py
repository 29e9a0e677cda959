"""Upstream identity providers, members' identities and connections there, and what apps require of them.

Secrets (a provider's client secret, a connection's tokens) are EncryptedTextFields: ciphertext bound
to their row (apps/upstream/fields.py), read with `unseal()`, written with `seal()`.
"""

import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.upstream.fields import EncryptedTextField

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# Named as in OIDC Discovery 1.0 §3 (and RFC 8414 §2), which fills them in.
ENDPOINT_FIELDS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
)


def scope_list_problems(value: object, *, name: str) -> list[Any]:
    """Why `value` is not a list of distinct RFC 6749 scope tokens (empty: it is one)."""
    if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
        return [_("%s must be a list of scope names.") % name]
    problems = [
        _("%(name)s: %(scope)r is not a scope name.") % {"name": name, "scope": scope}
        for scope in value
        if not SCOPE_TOKEN.fullmatch(scope)
    ]
    if len(set(value)) != len(value):
        problems.append(_("%s names a scope twice.") % name)
    return problems


def insecure_url(url: str) -> bool:
    """An endpoint Latch must not use: plain http, unless LATCH_UPSTREAM_ALLOW_HTTP (development)."""
    return bool(url) and not url.startswith("https://") and not settings.LATCH_UPSTREAM_ALLOW_HTTP


class UpstreamProvider(models.Model):
    """An identity provider Latch is a client of: for signing members in, and for connected accounts."""

    class AuthMethod(models.TextChoices):
        """How Latch authenticates at the provider's token and revocation endpoints (RFC 6749 §2.3.1)."""

        CLIENT_SECRET_BASIC = "client_secret_basic", _("HTTP Basic (client_secret_basic)")
        CLIENT_SECRET_POST = "client_secret_post", _("in the request body (client_secret_post)")
        # RFC 6749 §2.3.1 forbids it ("MUST NOT be included in the request URI"); a few old
        # providers accept nothing else. The secret ends up in their access logs.
        CLIENT_SECRET_QUERY = "client_secret_query", _("in the query string (old providers only)")

    class GrantType(models.TextChoices):
        AUTHORIZATION_CODE = "authorization_code", _("authorization code")
        REFRESH_TOKEN = "refresh_token", _("refresh token")

    slug = models.SlugField(
        _("id"),
        primary_key=True,
        max_length=50,
        help_text=_("Stable identifier, in URLs and the API (e.g. 'university'). Cannot be changed."),
    )
    name = models.CharField(_("display name"), max_length=100)
    icon_url = models.URLField(_("icon URL"), blank=True)
    discovery_url = models.URLField(
        _("OpenID Connect discovery URL"),
        max_length=500,
        blank=True,
        help_text=_(
            "The issuer followed by /.well-known/openid-configuration; fills in the endpoints below."
        ),
    )
    issuer = models.URLField(_("issuer"), max_length=500, blank=True)
    authorization_endpoint = models.URLField(_("authorization endpoint"), max_length=500, blank=True)
    token_endpoint = models.URLField(_("token endpoint"), max_length=500, blank=True)
    revocation_endpoint = models.URLField(_("revocation endpoint"), max_length=500, blank=True)
    userinfo_endpoint = models.URLField(_("userinfo endpoint"), max_length=500, blank=True)
    jwks_uri = models.URLField(_("JWKS URI"), max_length=500, blank=True)
    discovered_at = models.DateTimeField(_("last discovered"), null=True, blank=True, editable=False)
    client_id = models.CharField(_("client id"), max_length=255)
    client_secret = EncryptedTextField(_("client secret (encrypted)"))
    token_endpoint_auth_method = models.CharField(
        _("client authentication"),
        max_length=32,
        choices=AuthMethod,
        default=AuthMethod.CLIENT_SECRET_BASIC,
    )
    grant_types = models.JSONField(
        _("grant types"),
        default=list,
        help_text=_("authorization_code, and refresh_token to keep connections alive."),
    )
    use_pkce = models.BooleanField(_("use PKCE (S256)"), default=True)
    default_scopes = models.JSONField(
        _("default scopes"), default=list, blank=True, help_text=_("Asked for on every sign-in or connect.")
    )
    available_scopes = models.JSONField(
        _("available scopes"),
        default=list,
        blank=True,
        help_text=_('What apps may ask for: [{"scope": "...", "description": "..."}, ...].'),
    )
    allow_sign_in = models.BooleanField(_("members may sign in with it"), default=False)
    # Off by default: with it on, whoever controls an address at this provider (a reissued mailbox, an
    # administrator there, a bug in its verification) signs in as the Latch member with that address.
    trust_email = models.BooleanField(
        _("link by verified email without asking"),
        default=False,
        help_text=_(
            "A first sign-in whose verified email matches a Latch account links to it at once, without "
            "the member confirming with their Latch password. Only for a provider you trust as much as "
            "Latch itself (your own single sign-on): whoever controls that address there becomes the member."
        ),
    )
    # Off by default: with it off, an app declared for some scopes never gets a token carrying more.
    tokens_may_exceed_scopes = models.BooleanField(
        _("tokens may carry more scopes than asked"),
        default=False,
        help_text=_(
            "Latch narrows each app's token to the scopes the app declared, by refreshing it with only "
            "those scopes. A provider that cannot (no refresh, or it ignores the scope asked for) makes "
            "Latch refuse the app. Tick this to hand such apps the broader token instead: they then "
            "get every scope the member granted this provider."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("upstream provider")
        verbose_name_plural = _("upstream providers")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name or self.slug

    @property
    def scope_names(self) -> list[str]:
        return [entry["scope"] for entry in self.available_scopes]

    @property
    def has_client_secret(self) -> bool:
        return self.client_secret != ""

    def clean(self) -> None:
        errors: dict[str, list[Any]] = {}

        def error(field: str, message: Any) -> None:
            errors.setdefault(field, []).append(message)

        if not self.discovery_url and not (self.authorization_endpoint and self.token_endpoint):
            error(
                "discovery_url",
                _("Give a discovery URL, or the authorization and token endpoints."),
            )
        for name in ("discovery_url", *ENDPOINT_FIELDS):
            if insecure_url(getattr(self, name)):
                error(name, _("Must be an https URL."))
        grant_types = self.grant_types if isinstance(self.grant_types, list) else None
        if grant_types is None or not set(grant_types) <= set(self.GrantType.values):
            error("grant_types", _("Choose from: %s.") % ", ".join(self.GrantType.values))
        elif self.GrantType.AUTHORIZATION_CODE not in grant_types:
            error("grant_types", _("The authorization code grant is the only way to act for a member."))
        for message in scope_list_problems(self.default_scopes, name="default scopes"):
            error("default_scopes", message)
        for message in self._available_scope_problems():
            error("available_scopes", message)
        if not errors.get("available_scopes") and not errors.get("default_scopes") and self.available_scopes:
            unknown = sorted(set(self.default_scopes) - set(self.scope_names))
            if unknown:
                error("default_scopes", _("Not among the available scopes: %s") % ", ".join(unknown))
        if self.allow_sign_in and not (self.issuer and self.jwks_uri) and not self.userinfo_endpoint:
            error(
                "allow_sign_in",
                _("Signing in needs the member's subject: an issuer and JWKS URI, or a userinfo endpoint."),
            )
        if errors:
            raise ValidationError(errors)

    def _available_scope_problems(self) -> list[Any]:
        entries = self.available_scopes
        if not isinstance(entries, list):
            return [_('A list of {"scope": "...", "description": "..."} objects.')]
        problems: list[Any] = []
        for number, entry in enumerate(entries, start=1):
            if (
                not isinstance(entry, dict)
                or set(entry) != {"scope", "description"}
                or not isinstance(entry["scope"], str)
                or not isinstance(entry["description"], str)
            ):
                problems.append(_('Entry %d is not {"scope": "...", "description": "..."}.') % number)
            elif not SCOPE_TOKEN.fullmatch(entry["scope"]):
                problems.append(_("Entry %(n)d: %(scope)r is not a scope name.") % {"n": number, **entry})
            elif not entry["description"].strip():
                problems.append(_("Entry %d needs a description: members read it.") % number)
        if not problems and len(set(self.scope_names)) != len(entries):
            problems.append(_("A scope is listed twice."))
        return problems


class UpstreamIdentity(models.Model):
    """A Latch member is this subject at this provider (OIDC Core §5.7: `iss` and `sub` name an account)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upstream_identities"
    )
    provider = models.ForeignKey(UpstreamProvider, on_delete=models.CASCADE, related_name="identities")
    subject = models.CharField(_("subject"), max_length=255)
    created = models.DateTimeField(_("linked"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last sign-in"), null=True, blank=True)

    class Meta:
        verbose_name = _("upstream identity")
        verbose_name_plural = _("upstream identities")
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="upstream_identity_one_member"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.subject}"


class Connection(models.Model):
    """A member's connected account at a provider: the tokens Latch keeps for apps, encrypted.

    The primary key is a UUID made in Python, and the tokens are also bound to the member and the
    provider: a token copied to another connection, or a connection re-pointed to another member,
    no longer decrypts. Apps only ever get the access token; the refresh token never leaves Latch.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        EXPIRED = "expired", _("expired: connect again")
        REVOKED = "revoked", _("revoked")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections")
    provider = models.ForeignKey(UpstreamProvider, on_delete=models.CASCADE, related_name="connections")
    # Which account at the provider this is (OIDC Core §5.7), when the provider said: a later connect
    # must be the same account. `account` is how the member recognises it (name and email).
    subject = models.CharField(_("subject at the provider"), max_length=255, blank=True)
    account = models.CharField(_("account at the provider"), max_length=255, blank=True)
    scopes = models.JSONField(_("granted scopes"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.ACTIVE)
    token_type = models.CharField(_("token type"), max_length=40, default="Bearer")
    access_token = EncryptedTextField(_("access token (encrypted)"), bound_to=("user_id", "provider_id"))
    refresh_token = EncryptedTextField(_("refresh token (encrypted)"), bound_to=("user_id", "provider_id"))
    expires_at = models.DateTimeField(_("access token expires"), null=True, blank=True)
    last_refreshed_at = models.DateTimeField(_("last refreshed"), null=True, blank=True)
    # When the current access token was obtained (by connecting or refreshing): with expires_at, its
    # lifetime, which bounds how early the vault refreshes it (services.REFRESH_MARGIN).
    token_obtained_at = models.DateTimeField(_("access token obtained"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used by an app"), null=True, blank=True)
    # The refresh lease (services._lease_claim): a request spending the refresh token holds it until
    # then, without a transaction open across the provider's answer; a crashed request's lapses.
    refreshing_until = models.DateTimeField(_("being refreshed until"), null=True, blank=True, editable=False)
    created = models.DateTimeField(_("connected"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            models.UniqueConstraint(fields=["user", "provider"], name="upstream_connection_one_per_provider"),
            # A revoked connection keeps no token at all (see services.connection_revoke).
            models.CheckConstraint(
                condition=~Q(status="revoked") | (Q(access_token="") & Q(refresh_token="")),
                name="upstream_connection_revoked_has_no_tokens",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.provider_id}"


class ScopedToken(models.Model):
    """An access token of a connection narrowed to some of its scopes, for the apps declared for those.

    Obtained by a refresh with `scope` (RFC 6749 §6) and kept, sealed, until it is about to expire,
    so that apps do not make Latch refresh on each request. `scope_key` is the scopes asked for,
    sorted and space-separated; `scopes` is what the provider answered the token carries. The
    token is bound to its connection and scope key: copied to another row, it no longer decrypts.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="scoped_tokens")
    scope_key = models.CharField(_("scopes asked for"), max_length=2000)
    scopes = models.JSONField(_("scopes granted"), default=list)
    token_type = models.CharField(_("token type"), max_length=40, default="Bearer")
    access_token = EncryptedTextField(_("access token (encrypted)"), bound_to=("connection_id", "scope_key"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    token_obtained_at = models.DateTimeField(_("obtained"))

    class Meta:
        verbose_name = _("scoped token")
        verbose_name_plural = _("scoped tokens")
        constraints = [
            models.UniqueConstraint(fields=["connection", "scope_key"], name="upstream_scoped_token_once"),
        ]

    def __str__(self) -> str:
        return f"{self.connection} for {self.scope_key}"


class ApplicationUpstreamRequirement(models.Model):
    """An application needs the member's connection to a provider, with these scopes.

    `on_missing` says what happens for a member without that connection:
    - prompt_connect: the app is told where to send the member to connect;
    - ignore: the app gets a clear "not connected" answer and carries on;
    - error: the app cannot work without the provider. Latch refuses such a requirement on a
      disabled provider, and `problem` names it when the provider is disabled later, so the
      administrator sees in the requirements list which apps are blocked and why.
    """

    class OnMissing(models.TextChoices):
        PROMPT_CONNECT = "prompt_connect", _("tell the app where to send the member to connect")
        IGNORE = "ignore", _("answer 'not connected'; the app carries on")
        ERROR = "error", _("error: the app cannot work without it")

    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="upstream_requirements",
    )
    # PROTECT: a provider cannot be removed while an application depends on it.
    provider = models.ForeignKey(UpstreamProvider, on_delete=models.PROTECT, related_name="requirements")
    scopes = models.JSONField(_("upstream scopes"), default=list, blank=True)
    on_missing = models.CharField(
        _("when the member is not connected"),
        max_length=16,
        choices=OnMissing,
        default=OnMissing.PROMPT_CONNECT,
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("application upstream requirement")
        verbose_name_plural = _("application upstream requirements")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "provider"], name="upstream_requirement_one_per_provider"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application} needs {self.provider_id}"

    @property
    def problem(self) -> str:
        """Why the requirement cannot be met now ("" when it can)."""
        if self.on_missing == self.OnMissing.ERROR and not self.provider.enabled:
            return str(_("Blocked: the app cannot work while %s is disabled.") % self.provider.name)
        return ""

    def clean(self) -> None:
        errors: dict[str, list[Any]] = {}
        for message in scope_list_problems(self.scopes, name="scopes"):
            errors.setdefault("scopes", []).append(message)
        if self.provider_id is not None and not errors:
            unknown = sorted(set(self.scopes) - set(self.provider.scope_names))
            if unknown:
                errors.setdefault("scopes", []).append(
                    _("Not among %(provider)s's available scopes: %(scopes)s")
                    % {"provider": self.provider.name, "scopes": ", ".join(unknown)}
                )
            if self.problem:
                errors.setdefault("on_missing", []).append(self.problem)
        if errors:
            raise ValidationError(errors)
