"""Dynamic client registration (RFC 7591) and client management (RFC 7592): Latch's own, not DOT's.

DOT 3.4.1 ships `DynamicClientRegistrationView` (`DCR_ENABLED`). It does not fit, and its hooks
cannot make it fit:
- Who may register is a yes/no permission class (`has_permission(request)`). It cannot carry an
  initial access token's scope ceiling into the registration, nor spend a single-use token in the
  same transaction as the registration: spent in the permission check, a refused registration
  (bad metadata) would still use the token up, and nothing stops two registrations racing on it.
- Its metadata parsing (`_build_application_kwargs`, private) reads only redirect_uris,
  client_name, grant_types and token_endpoint_auth_method: no scope (so no ceiling), jwks,
  jwks_uri, private_key_jwt, logo_uri, client_uri, post-logout or back-channel URIs; a registered
  client would get every scope in the registry. Redirect URIs are checked only by the model's
  scheme list (no loopback rule, localhost allowed with http on).
- Its registration access token is an AccessToken with the scope "oauth2_provider:registration",
  which the API, introspection and Latch's scope registry would each have to learn to refuse.
- It creates the Application directly rather than through `apps.oauth.services.create_application`
  and records no audit events; its response lacks client_id_issued_at and client_secret_expires_at
  and always claims client_secret_basic.
Latch keeps DOT's `registration_source` field ("dcr") for provenance.
"""

import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.oauth.models import Application
from apps.oauth.scopes import SCOPES
from apps.oauth.services import create_application
from apps.registration.metadata import InvalidMetadata, client_metadata, invalid_metadata_of
from apps.registration.models import TOKEN_PREFIX_LENGTH, ClientRegistration, InitialAccessToken


class InvalidToken(Exception):
    """RFC 6750 §3.1 `invalid_token`: missing, unknown, expired, revoked or spent (a 401)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class Registered:
    registration: ClientRegistration
    client_secret: str | None
    registration_access_token: str


def new_token() -> str:
    """256 random bits, base64url: 43 characters, far beyond guessing, so stored as a plain digest."""
    return secrets.token_urlsafe(32)


def initial_token_issue(
    token: InitialAccessToken, *, request: HttpRequest | None = None, actor_label: str = ""
) -> str:
    """Save a new initial access token; returns its value, which is never readable again.

    Raises ValidationError for unknown scopes, no scopes, fewer than one use or a past expiry.
    """
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(token.scopes) - set(SCOPES))
    if unknown:
        errors["scopes"] = [f"Unknown scopes: {', '.join(unknown)}"]
    elif not token.scopes:
        errors["scopes"] = ["Allow at least one scope."]
    if token.max_uses is None or token.max_uses < 1:
        errors["max_uses"] = ["At least one registration."]
    if token.expires is None or token.expires <= timezone.now():
        errors["expires"] = ["The expiry must be in the future."]
    if errors:
        raise ValidationError(errors)
    token.scopes = [name for name in SCOPES if name in token.scopes]
    value = new_token()
    token.token = value
    token.token_prefix = value[:TOKEN_PREFIX_LENGTH]
    token.save()
    record(
        AuditEvent.Event.REGISTRATION_TOKEN_ISSUED,
        request=request,
        user=token.created_by,
        actor_type=AuditEvent.ActorType.ADMIN,
        actor_label=actor_label,
        prefix=token.token_prefix,
        scopes=token.scopes,
        expires=token.expires,
        max_uses=token.max_uses,
        description=token.description,
    )
    return value


def initial_token_revoke(
    token: InitialAccessToken, *, request: HttpRequest | None = None, user: Any = None, actor_label: str = ""
) -> bool:
    """Revoke it (registrations already made stay); False when it was revoked before."""
    revoked = InitialAccessToken.objects.filter(pk=token.pk, revoked__isnull=True).update(
        revoked=timezone.now()
    )
    if revoked:
        record(
            AuditEvent.Event.REGISTRATION_TOKEN_REVOKED,
            request=request,
            user=user,
            actor_type=AuditEvent.ActorType.ADMIN,
            actor_label=actor_label,
            prefix=token.token_prefix,
            uses=token.uses,
        )
    return bool(revoked)


def client_register(*, initial_token: str, data: dict[str, Any], request: HttpRequest) -> Registered:
    """Register a client with an initial access token (RFC 7591 §3); raises InvalidToken or InvalidMetadata.

    The token's row is locked first: of two registrations spending its last use at once, the second
    waits, then finds it spent. A refused registration rolls back and leaves the token unspent.
    """
    with transaction.atomic():
        token = InitialAccessToken.objects.select_for_update().filter(token=initial_token).first()
        if token is None or not token.is_usable():
            raise InvalidToken("The initial access token is unknown, expired, revoked or used up.")
        metadata = client_metadata(data, scope_ceiling=token.scopes)
        try:
            application, secret = create_application(
                name=metadata.client_name,
                grant_type=metadata.grant_type,
                client_type=metadata.client_type,
                redirect_uris=metadata.redirect_uris,
                post_logout_redirect_uris=metadata.post_logout_redirect_uris,
                allowed_scopes=metadata.scopes,
                homepage_url=metadata.client_uri,
                logo_url=metadata.logo_uri,
                token_endpoint_auth_method=metadata.token_endpoint_auth_method,
                jwks=metadata.jwks,
                jwks_uri=metadata.jwks_uri,
                backchannel_logout_uri=metadata.backchannel_logout_uri,
                backchannel_logout_session_required=metadata.backchannel_logout_session_required,
                registration_source=Application.RegistrationSource.DCR,
            )
        except ValidationError as exc:
            raise invalid_metadata_of(exc) from exc
        InitialAccessToken.objects.filter(pk=token.pk).update(uses=F("uses") + 1)
        registration_token = new_token()
        registration = ClientRegistration.objects.create(
            application=application,
            registration_access_token=registration_token,
            token_prefix=registration_token[:TOKEN_PREFIX_LENGTH],
            scope_ceiling=token.scopes,
            initial_access_token=token,
            contacts=metadata.contacts,
        )
        record(
            AuditEvent.Event.CLIENT_REGISTERED,
            request=request,
            client_id=application.client_id,
            name=application.name,
            grant=application.authorization_grant_type,
            auth_method=application.token_endpoint_auth_method,
            scopes=application.allowed_scopes,
            redirect_uris=metadata.redirect_uris,
            initial=token.token_prefix,
        )
    # A private_key_jwt client authenticates with its keys: the secret stored for it is never shown.
    shown = secret if metadata.token_endpoint_auth_method != "private_key_jwt" else None
    return Registered(registration, shown, registration_token)


def client_registration_update(
    *, registration: ClientRegistration, data: dict[str, Any], request: HttpRequest
) -> ClientRegistration:
    """RFC 7592 §2.2: replace the client's metadata, held to the same rules and scope ceiling.

    The client may not change its client_id or choose a client_secret; a client_secret it sends
    must be the one it has. Public and confidential stay what they were: a new kind of client is
    a new registration.
    """
    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=registration.application_id)
        if data.get("client_id") != application.client_id:
            raise InvalidMetadata("client_id must be this client's client_id (RFC 7592 §2.2).")
        if "client_secret" in data and not _is_current_secret(application, data["client_secret"]):
            raise InvalidMetadata("client_secret cannot be changed by the client (RFC 7592 §2.2).")
        metadata = client_metadata(data, scope_ceiling=registration.scope_ceiling)
        if metadata.client_type != application.client_type:
            raise InvalidMetadata(
                "token_endpoint_auth_method cannot turn a confidential client into a public one or back; "
                "register a new client."
            )
        fields = metadata.application_fields()
        changed = sorted(name for name, value in fields.items() if getattr(application, name) != value)
        old_scopes = list(application.allowed_scopes)
        for name, value in fields.items():
            setattr(application, name, value)
        try:
            application.full_clean()
        except ValidationError as exc:
            raise invalid_metadata_of(exc) from exc
        application.save()
        if registration.contacts != metadata.contacts:
            changed.append("contacts")
        registration.contacts = metadata.contacts
        registration.application = application
        registration.save(update_fields=["contacts", "updated"])
        record(
            AuditEvent.Event.CLIENT_REGISTRATION_CHANGED,
            request=request,
            client_id=application.client_id,
            fields=changed,
            allowed_scopes={"old": old_scopes, "new": application.allowed_scopes},
        )
    return registration


def _is_current_secret(application: Application, value: object) -> bool:
    if not isinstance(value, str) or not application.client_secret:
        return False
    if not application.hash_client_secret:
        return secrets.compare_digest(value, application.client_secret)
    return check_password(value, application.client_secret)


@transaction.atomic
def client_registration_delete(*, registration: ClientRegistration, request: HttpRequest) -> None:
    """RFC 7592 §2.3: the client goes, and with it (cascade) its tokens, codes, consents and registration."""
    application = registration.application
    client_id, name = application.client_id, application.name
    application.delete()
    record(AuditEvent.Event.CLIENT_REGISTRATION_DELETED, request=request, client_id=client_id, name=name)
