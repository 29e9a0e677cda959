"""Latch's swapped django-oauth-toolkit models (DOT's documented extension point for its models).

All five are swapped from the first migration so that later changes never need a model swap.
"""

import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractDeviceGrant,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
    ApplicationManager,
)

from apps.core.fields import DigestField
from apps.oauth import client_keys
from apps.oauth.scopes import SCOPES

# RFC 8693 §2.1; the grant is apps/oauth/token_exchange.py, allowed by a TokenExchangePolicy.
TOKEN_EXCHANGE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
StrOrPromise = str | Promise

# Scopes that only make sense for a member signing in; a client-credentials app acts for itself.
USER_ONLY_SCOPES = frozenset({"openid", "profile", "email", "offline_access", "participant-write"})


# Sent after a queryset's update() of applications changed rows (no save signal says so);
# apps/oauth/signals.py tells the client cache, as for a save or a delete.
applications_updated = Signal()


class ApplicationQuerySet(models.QuerySet["Application"]):
    """Applications' queryset, announcing the one write that sends no model signal.

    `save()` and `delete()` (a queryset's delete too: the collector sends `post_delete` for each
    row once a receiver listens) send Django's signals; `update()`, and `bulk_update()` through
    it, send none. Processes keep applications' rows between changes (apps/oauth/client_cache.py),
    so every kind of change must be heard."""

    def update(self, **kwargs: Any) -> int:
        rows = super().update(**kwargs)
        if rows:
            applications_updated.send(sender=self.model, using=self.db)
        return rows

    update.alters_data = True  # type: ignore[attr-defined]


class LatchApplicationManager(ApplicationManager.from_queryset(ApplicationQuerySet)):  # type: ignore[misc]
    pass


class Application(AbstractApplication):
    """A registered client, with what a member needs to recognise it and what it may ever ask for."""

    allowed_scopes = models.JSONField(
        _("allowed scopes"),
        default=list,
        blank=True,
        help_text=_("The only scopes this application may ever receive; requests for others fail."),
    )
    description = models.TextField(
        _("description"), blank=True, help_text=_("Shown to members on the consent page.")
    )
    homepage_url = models.URLField(_("homepage"), blank=True)
    logo_url = models.URLField(_("logo URL"), blank=True, help_text=_("An https image, shown on consent."))
    # id_tokens are always RS256-signed with Latch's key; HS256 would make the client secret the
    # signing key, which rules out storing only a digest of it.
    algorithm = models.CharField(
        _("algorithm"),
        max_length=5,
        choices=[(AbstractApplication.RS256_ALGORITHM, _("RSA with SHA-2 256"))],
        default=AbstractApplication.RS256_ALGORITHM,
    )

    # OAuth 2.1 / RFC 9700 §2.1.1: every client sends S256 PKCE. PKCE binds the code to the browser
    # session that asked for it, which a client secret cannot do (code injection, RFC 9700 §4.5).
    pkce_optional = models.BooleanField(
        _("PKCE optional"),
        default=False,
        help_text=_(
            "Only for an old confidential app that cannot send PKCE (S256). Its authorization codes "
            "are then protected by the client secret alone: a code stolen from a redirect or injected "
            "into a member's browser can be redeemed by whoever holds the secret (RFC 9700 §4.5). "
            "Leave off unless the app truly cannot be updated."
        ),
    )

    # RFC 7662 §2.2 leaves to the server which tokens a caller may learn about; §4 warns of token
    # scanning. Latch answers a client about its own tokens, and only a resource server about others.
    is_resource_server = models.BooleanField(
        _("resource server"),
        default=False,
        help_text=_(
            "An API that accepts Latch's tokens from other apps: it may introspect any application's "
            "tokens and learns their member and scopes. Other applications learn only about their own."
        ),
    )

    # RFC 9449 §5: a client that must never hold a bearer token (a stolen DPoP-bound token is
    # useless without the client's private key).
    require_dpop = models.BooleanField(
        _("require DPoP"),
        default=False,
        help_text=_(
            "Every token request of this app must carry a DPoP proof (RFC 9449), so all its tokens "
            "are bound to a key it holds; a request without one is refused."
        ),
    )

    # RFC 9126 §5: such an app's authorization requests must come through /oauth/par. The
    # server-wide LATCH_REQUIRE_PAR requires it of every app (apps/oauth/par.py).
    require_pushed_authorization_requests = models.BooleanField(
        _("require pushed authorization requests"),
        default=False,
        help_text=_(
            "The app must push every authorization request to /oauth/par (RFC 9126) and send the "
            "browser with only the request_uri it got back; a plain authorization request is refused."
        ),
    )

    # RFC 9068: a JWT access token can be validated by a resource server without asking Latch, at
    # the price of revocation, which Latch's own API and introspection still honour (by its digest).
    access_token_format = models.CharField(
        _("access token format"),
        max_length=8,
        choices=[("opaque", _("opaque (only Latch can read it)")), ("jwt", _("JWT (RFC 9068)"))],
        default="opaque",
        help_text=_(
            "JWT access tokens are signed by Latch and can be checked by other APIs without asking "
            "Latch; those APIs then do not see a revocation until the token expires, so keep the "
            "lifetime short."
        ),
    )
    access_token_lifetime = models.PositiveIntegerField(
        _("access token lifetime (seconds)"),
        null=True,
        blank=True,
        help_text=_("Empty: the server's default. Keep it short for JWT access tokens."),
    )

    # RFC 7591 §2 / OIDC Core §9. Empty: by client type, a secret (HTTP Basic or the body) for a
    # confidential client and none for a public one. Any other value is the only method accepted.
    token_endpoint_auth_method = models.CharField(
        _("client authentication method"),
        max_length=32,
        blank=True,
        default="",
        choices=[
            ("", _("by client type: a client secret, or none for a public client")),
            ("client_secret_basic", _("client secret, HTTP Basic only")),
            ("client_secret_post", _("client secret, in the request body only")),
            ("private_key_jwt", _("a JWT signed with the app's private key (RFC 7523)")),
            ("none", _("none (public client)")),
        ],
    )
    # The public keys a private_key_jwt client signs its assertions with: inline, or fetched.
    jwks = models.JSONField(
        _("JWKS"),
        null=True,
        blank=True,
        help_text=_("The app's public keys, as a JSON Web Key Set; or give a JWKS URI instead."),
    )
    jwks_uri = models.URLField(
        _("JWKS URI"), max_length=2000, blank=True, help_text=_("An https URL serving the app's public keys.")
    )

    # OpenID Connect Back-Channel Logout 1.0 §2.2: where Latch POSTs a logout token when a member
    # whose session signed into this app signs out.
    backchannel_logout_uri = models.URLField(_("back-channel logout URI"), max_length=2000, blank=True)
    backchannel_logout_session_required = models.BooleanField(
        _("back-channel logout needs sid"),
        default=False,
        help_text=_("The app needs the session id (sid) in every logout token."),
    )

    objects = LatchApplicationManager()

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = _("application")

    def natural_key(self) -> tuple[str]:
        return (self.client_id,)

    def clean(self) -> None:
        errors: dict[str, list[Any]] = {}
        try:
            super().clean()
        except ValidationError as exc:
            errors.update(exc.message_dict)
        unknown = sorted(set(self.allowed_scopes or ()) - set(SCOPES))
        if unknown:
            errors.setdefault("allowed_scopes", []).append(_("Unknown scopes: %s") % ", ".join(unknown))
        if self.authorization_grant_type == self.GRANT_CLIENT_CREDENTIALS:
            user_only = sorted(set(self.allowed_scopes or ()) & USER_ONLY_SCOPES)
            if user_only:
                errors.setdefault("allowed_scopes", []).append(
                    _("A client-credentials app acts for itself, not a member; remove: %s")
                    % ", ".join(user_only)
                )
        if self.authorization_grant_type not in (
            self.GRANT_AUTHORIZATION_CODE,
            self.GRANT_CLIENT_CREDENTIALS,
            self.GRANT_DEVICE_CODE,
        ):
            errors.setdefault("authorization_grant_type", []).append(
                _("Latch supports the authorization code, client credentials and device code grants only.")
            )
        if (
            self.client_type == self.CLIENT_PUBLIC
            and self.authorization_grant_type == self.GRANT_CLIENT_CREDENTIALS
        ):
            errors.setdefault("client_type", []).append(
                _("Client credentials need a confidential client: a public one cannot keep a secret.")
            )
        if self.pkce_optional and not (
            self.client_type == self.CLIENT_CONFIDENTIAL
            and self.authorization_grant_type == self.GRANT_AUTHORIZATION_CODE
        ):
            errors.setdefault("pkce_optional", []).append(
                _("Only a confidential authorization-code app may leave PKCE out; a public one never may.")
            )
        if self.access_token_lifetime == 0:
            errors.setdefault("access_token_lifetime", []).append(
                _("An access token must live at least one second; leave it empty for the server's default.")
            )
        try:
            client_keys.validate_registration(self)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        if problem := backchannel_logout_uri_problem(self.backchannel_logout_uri):
            errors.setdefault("backchannel_logout_uri", []).append(problem)
        if self.backchannel_logout_session_required and not self.backchannel_logout_uri:
            errors.setdefault("backchannel_logout_session_required", []).append(
                _("Give a back-channel logout URI first.")
            )
        if errors:
            raise ValidationError(errors)


def backchannel_logout_uri_problem(uri: str) -> StrOrPromise:
    """Why `uri` cannot be a back-channel logout URI, or "" (OIDC Back-Channel Logout §2.2).

    An absolute https URL without a fragment; it may have a query. Plain http only in DEBUG (an app
    on the developer's machine): the logout token is a signed statement about a member, sent
    server-to-server, and must not cross the network readable or rewritable.
    """
    if not uri:
        return ""
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return _("Give an absolute https URL.")
    if parts.scheme == "http" and not settings.DEBUG:
        return _("The URL must be https.")
    if parts.fragment or uri.endswith("#"):
        return _("The URL must not have a fragment (#...).")
    if parts.username is not None or parts.password is not None:
        return _("The URL must not hold a user name or password.")
    return ""


class Acr(models.TextChoices):
    """The `acr` values of Latch's id_tokens (OIDC Core §2): how strongly the member authenticated.

    PASSWORD: no second factor is on record for the sign-in (a password alone, as far as Latch
    knows). MFA: two factors, a password and an authenticator code or security key, or a passkey
    unlocked by PIN or biometric. An app asks for MFA with `acr_values` (apps/oauth/views.py).
    """

    PASSWORD = "urn:latch:acr:password", _("password only")
    MFA = "urn:latch:acr:mfa", _("two factors")


# RFC 9449: the SHA-256 thumbprint (RFC 7638, base64url) of the key a token is bound to; empty when
# it is not bound. On an authorization code, the `dpop_jkt` the authorization request named (§10).
DPOP_JKT_LENGTH = 43


def dpop_jkt_field() -> models.CharField:
    return models.CharField(
        _("DPoP key thumbprint"), max_length=DPOP_JKT_LENGTH, blank=True, default="", editable=False
    )


class SignInRecord(models.Model):
    """How the member signed in where the token chain began: carried from code to refresh tokens.

    Every id_token issued from the chain, refreshes included, states this sign-in (OIDC Core §12.2:
    a refreshed id_token describes the original authentication, not a new one).
    """

    amr = models.JSONField(
        _("authentication methods"), default=list, blank=True, help_text=_("RFC 8176 values.")
    )
    acr = models.CharField(_("authentication level"), max_length=64, choices=Acr, blank=True)
    auth_time = models.DateTimeField(_("signed in"), null=True, blank=True)
    # The member's browser session at Latch (the id_token's `sid`): empty where no session started
    # the chain (a device grant) or the chain began before Latch recorded it.
    sid = models.CharField(_("session id"), max_length=64, blank=True, default="", editable=False)

    class Meta:
        abstract = True


class Grant(SignInRecord, AbstractGrant):  # noqa: DJ008 (AbstractGrant has __str__)
    """An authorization code. Kept after redemption so that a replay can be recognised and punished.

    Only the code's SHA-256 is stored (DigestField); the code itself exists only in the redirect.
    """

    code = DigestField(_("code digest"), unique=True, editable=False)
    redeemed_at = models.DateTimeField(_("redeemed"), null=True, blank=True)
    # Shared with every token issued from this code (and their refreshes), so a replayed code
    # revokes them all at once (RFC 6749 §4.1.2).
    token_family = models.UUIDField(_("token family"), default=uuid.uuid4, editable=False)
    jkt = dpop_jkt_field()

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"
        verbose_name = _("authorization code")
        indexes = [models.Index(fields=["expires"], name="oauth_grant_expires_idx")]


class AccessToken(AbstractAccessToken):
    # DOT keeps the family on refresh tokens only; an access token issued without a refresh token
    # (no offline_access) must be revocable by family too.
    token_family = models.UUIDField(_("token family"), null=True, blank=True, editable=False, db_index=True)
    token_prefix = models.CharField(
        _("token prefix"), max_length=8, blank=True, editable=False, help_text=_("For recognition only.")
    )
    # RFC 9068 §2.2: the `jti` of a JWT access token (apps/oauth/jwt_access_tokens.py); empty for an
    # opaque one. For recognising a JWT, whose first characters are the same for all of them.
    jti = models.CharField(_("JWT ID"), max_length=64, blank=True, default="", editable=False)
    jkt = dpop_jkt_field()
    # RFC 8693 §4.1: who acts for the member, for a token issued by token exchange with an
    # actor_token; stored as the exact `act` object introspection (and a JWT) shows, prior actors
    # nested in its own `act`. Null for every token that was not delegated.
    actor = models.JSONField(_("actor (act)"), null=True, blank=True, editable=False)
    # Issued by token exchange: its family is another app's chain, which it dies with, but revoking
    # this token's app alone must not revoke that chain (apps/oauth/services.revoke_member_tokens).
    issued_by_exchange = models.BooleanField(_("issued by token exchange"), default=False, editable=False)

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"
        indexes = [models.Index(fields=["expires"], name="oauth_accesstoken_expires_idx")]


class RefreshToken(SignInRecord, AbstractRefreshToken):  # noqa: DJ008 (DOT's has __str__)
    token_prefix = models.CharField(
        _("token prefix"), max_length=8, blank=True, editable=False, help_text=_("For recognition only.")
    )
    # RFC 6749 §6: a refresh may ask for less than the member granted, and the refresh token issued
    # with it keeps the whole grant. DOT derives a refresh token's scope from its access token,
    # which a narrowed refresh narrows; this is the chain's own. Empty on rows stored before it.
    scope = models.TextField(
        _("scope"),
        blank=True,
        editable=False,
        help_text=_("What the member granted for this token chain; a refresh may ask for less, never more."),
    )
    # Public clients' refresh tokens only (RFC 9449 §5): a confidential client authenticates.
    jkt = dpop_jkt_field()

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"
        indexes = [
            *AbstractRefreshToken.Meta.indexes,
            models.Index(fields=["revoked"], name="oauth_refreshtoken_revoked_idx"),
        ]

    @classmethod
    def revoke_family(cls, token_family: uuid.UUID | None) -> None:
        """Revoke the family's refresh tokens (DOT) and also every access token carrying the family.

        In a transaction of its own (or the caller's): the lock below needs one, and a caller in
        autocommit (the admin's "revoke codes" action) got a 500 after DOT had revoked half of it.
        """
        if not token_family:
            return
        with transaction.atomic(using=router.db_for_write(cls)):
            super().revoke_family(token_family)
            family = AccessToken.objects.filter(token_family=token_family)
            # Lock the family first, then delete what it holds by then: a token exchange locks its
            # subject token until the new token (of the same family) is committed, so the DELETE,
            # a new statement, sees that token too (apps/oauth/token_exchange.py).
            list(family.select_for_update().values_list("pk", flat=True))
            family.delete()


def string_list_field(verbose_name, help_text) -> models.JSONField:
    return models.JSONField(verbose_name, default=list, blank=True, help_text=help_text)


class TokenExchangePolicy(models.Model):
    """What one confidential client may get by token exchange (RFC 8693); without one, nothing.

    The rules that read it are in apps/oauth/token_exchange.py. Audiences are exact strings: an
    RFC 8707 `resource` URI or an RFC 8693 `audience` name, compared as they are written.
    """

    client = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="token_exchange_policy",
        verbose_name=_("client"),
        help_text=_("The confidential service that exchanges members' tokens."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    audiences = string_list_field(
        _("audiences it may ask for"),
        _(
            "Exact resource URIs (RFC 8707) or audience names (RFC 8693) the new tokens may be for. "
            "A request naming any other is refused."
        ),
    )
    scopes = string_list_field(
        _("scopes it may pass on"),
        _(
            "The most a new token may carry; it also never gets more than the member's token had "
            "or than the client is allowed."
        ),
    )
    # Whose tokens the client may exchange: without this, any service holding a member's token
    # could turn it into one for itself. See token_exchange.subject_token_acceptable.
    served_audiences = string_list_field(
        _("audiences it serves"),
        _(
            "The resource URIs this client answers for as an API: a member's token issued for one "
            "of them (RFC 8707) may be exchanged by it."
        ),
    )
    subject_clients: "models.ManyToManyField[Application, Any]" = models.ManyToManyField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        blank=True,
        related_name="+",
        verbose_name=_("apps whose tokens it may exchange"),
        help_text=_(
            "A member's token issued to one of these apps may be exchanged whatever its audience. "
            "Its own tokens always may."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("token exchange policy")
        verbose_name_plural = _("token exchange policies")

    def __str__(self) -> str:
        return f"{self.client} (token exchange)"

    def clean(self) -> None:
        errors: dict[str, list[Any]] = {}
        unknown = sorted(set(self.scopes or ()) - set(SCOPES))
        if unknown:
            errors.setdefault("scopes", []).append(_("Unknown scopes: %s") % ", ".join(unknown))
        for name in ("audiences", "served_audiences"):
            values = getattr(self, name)
            if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
                errors.setdefault(name, []).append(_("A list of non-empty strings."))
        client = getattr(self, "client", None) if self.client_id else None
        if client is not None and client.client_type != client.CLIENT_CONFIDENTIAL:
            errors.setdefault("client", []).append(
                _("Only a confidential client may exchange tokens: a public one cannot authenticate.")
            )
        if errors:
            raise ValidationError(errors)


class IDToken(AbstractIDToken):
    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"
        verbose_name = _("ID token")
        indexes = [models.Index(fields=["expires"], name="oauth_idtoken_expires_idx")]


class Consent(models.Model):
    """What a member has allowed an application, remembered so that the next request can skip the page.

    Business rules live in apps/oauth/consent.py; withdrawing consent also revokes the app's tokens.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="oauth_consents",
        verbose_name=_("user"),
    )
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="consents",
        verbose_name=_("application"),
    )
    scopes = models.JSONField(_("scopes"), default=list, help_text=_("Every scope the member has allowed."))
    first_granted_at = models.DateTimeField(_("first granted"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent")
        constraints = [
            models.UniqueConstraint(fields=["user", "application"], name="oauth_consent_once_per_app"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.application}"


class PushedAuthorizationRequest(models.Model):
    """An authorization request a client pushed (RFC 9126), waiting for the browser to bring it.

    Only the SHA-256 of its request_uri is stored (DigestField): a database leak gives nobody a
    pending request to use. The service functions are in apps/oauth/par.py.
    """

    request_uri = DigestField(_("request URI digest"), unique=True, editable=False)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="pushed_authorization_requests",
        verbose_name=_("application"),
    )
    # [name, value] pairs, in the order pushed: RFC 8707's `resource` may repeat.
    parameters = models.JSONField(_("parameters"), default=list, editable=False)
    created_at = models.DateTimeField(_("pushed"), default=timezone.now, editable=False)
    expires = models.DateTimeField(_("expires"))
    arrived_at = models.DateTimeField(_("reached the authorization endpoint"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        verbose_name = _("pushed authorization request")
        indexes = [models.Index(fields=["expires"], name="oauth_par_expires_idx")]

    def __str__(self) -> str:
        return f"{self.application} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class DeviceGrant(SignInRecord, AbstractDeviceGrant):  # noqa: DJ008 (DOT's has __str__)
    """A device authorization request (RFC 8628): a device's wait for a member's Allow or Deny.

    DOT stores both codes in plaintext. Here the device code, 256 random bits, is stored as its
    SHA-256 (DigestField) like every other bearer credential. The user code is typed by a person
    and so has few bits (apps/oauth/device.py): a plain digest of it could be reversed by trying
    every code, so it is stored as an HMAC under a key derived from SECRET_KEY, which the database
    does not hold. Kept after the tokens are issued, until cleanup, so a reused device code is
    recognised as such.
    """

    device_code = DigestField(_("device code digest"), editable=False)
    user_code = models.CharField(_("user code digest"), max_length=64, unique=True, editable=False)
    # RFC 8628 §3.5: the last poll, to tell a device that polls faster than `interval` to slow down.
    polled_at = models.DateTimeField(_("last polled"), null=True, blank=True, editable=False)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True, editable=False)
    redeemed_at = models.DateTimeField(_("tokens issued"), null=True, blank=True, editable=False)
    # Shared with the tokens issued from this grant, so that they can be revoked together.
    token_family = models.UUIDField(_("token family"), default=uuid.uuid4, editable=False)

    class Meta(AbstractDeviceGrant.Meta):
        swappable = "OAUTH2_PROVIDER_DEVICE_GRANT_MODEL"
        verbose_name = _("device authorization")
        indexes = [models.Index(fields=["expires"], name="oauth_devicegrant_expires_idx")]
