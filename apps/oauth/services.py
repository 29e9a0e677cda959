"""Business rules for registering applications and managing their credentials."""

import logging
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from apps.oauth.models import AccessToken, Application, RefreshToken

logger = logging.getLogger(__name__)

GRANT_TYPES = {
    "authorization_code": Application.GRANT_AUTHORIZATION_CODE,
    "client_credentials": Application.GRANT_CLIENT_CREDENTIALS,
    "device_code": Application.GRANT_DEVICE_CODE,
}


def new_client_secret() -> str:
    """384 random bits, URL-safe: far beyond guessing, so a fast digest is enough to store it."""
    return secrets.token_urlsafe(48)


def create_application(
    *,
    name: str,
    grant_type: str,
    client_type: str,
    redirect_uris: Iterable[str] = (),
    post_logout_redirect_uris: Iterable[str] = (),
    allowed_scopes: Iterable[str] = (),
    description: str = "",
    homepage_url: str = "",
    logo_url: str = "",
    client_id: str | None = None,
    pkce_optional: bool = False,
    is_resource_server: bool = False,
    require_dpop: bool = False,
    require_pushed_authorization_requests: bool = False,
    access_token_format: str = "opaque",  # noqa: S107 (a format's name, not a secret)
    access_token_lifetime: int | None = None,
    token_endpoint_auth_method: str = "",
    jwks: object = None,  # a JWKS; clean() refuses anything else
    jwks_uri: str = "",
    backchannel_logout_uri: str = "",
    backchannel_logout_session_required: bool = False,
    registration_source: str = Application.RegistrationSource.MANUAL,
) -> tuple[Application, str | None]:
    """Register an application; returns it with its client secret, which is never readable again.

    `pkce_optional` lets an old confidential client leave PKCE out, `is_resource_server`
    lets it introspect every application's tokens, `require_dpop` refuses its token requests
    without a DPoP proof, `require_pushed_authorization_requests` makes it push its authorization
    requests (RFC 9126), `access_token_format` "jwt" gives it RFC 9068 JWT access tokens,
    `access_token_lifetime` (seconds, None for the server's default) is how long its access tokens
    live, and `token_endpoint_auth_method` is the only way the app may authenticate: a
    private_key_jwt app gets no secret, only its keys (`jwks` or `jwks_uri`,
    apps/oauth/client_keys.py). `registration_source` is DOT's record of how the application came
    to be (RFC 7591 registrations are "dcr", apps/registration). See the model fields.

    Raises ValidationError when the registration is invalid (unknown scope, bad redirect URI, ...).
    """
    application = Application(
        name=name,
        authorization_grant_type=GRANT_TYPES.get(grant_type, grant_type),
        client_type=client_type,
        redirect_uris=" ".join(redirect_uris),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris),
        allowed_scopes=list(dict.fromkeys(allowed_scopes)),
        description=description,
        homepage_url=homepage_url,
        logo_url=logo_url,
        pkce_optional=pkce_optional,
        is_resource_server=is_resource_server,
        require_dpop=require_dpop,
        require_pushed_authorization_requests=require_pushed_authorization_requests,
        access_token_format=access_token_format,
        access_token_lifetime=access_token_lifetime,
        token_endpoint_auth_method=token_endpoint_auth_method,
        jwks=jwks,
        jwks_uri=jwks_uri,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
        registration_source=registration_source,
    )
    if client_id:
        application.client_id = client_id
    has_secret = (
        client_type == Application.CLIENT_CONFIDENTIAL and token_endpoint_auth_method != "private_key_jwt"
    )
    secret = new_client_secret() if has_secret else None
    application.client_secret = secret or ""
    # A public or private_key_jwt client has no secret; an empty one is stored as it is, never as a
    # hash of "" (and authenticate_client refuses every secret for private_key_jwt).
    application.hash_client_secret = secret is not None
    application.full_clean()
    application.save()
    logger.info(
        "oauth.application_created client=%s name=%r grant=%s type=%s scopes=%s access_tokens=%s",
        application.client_id,
        application.name,
        application.authorization_grant_type,
        application.client_type,
        " ".join(application.allowed_scopes),
        application.access_token_format,
    )
    return application, secret


def rotate_client_secret(application: Application) -> str:
    """Give a confidential application a new secret; the old one stops working at once."""
    if application.client_type != Application.CLIENT_CONFIDENTIAL:
        raise ValueError("Only confidential applications have a client secret.")
    secret = new_client_secret()
    with transaction.atomic():
        application.client_secret = secret
        application.save(update_fields=["client_secret", "updated"])
    logger.info("oauth.client_secret_rotated client=%s", application.client_id)
    return secret


@transaction.atomic
def revoke_member_tokens(user, application: Application | None = None) -> int:
    """Revoke every access and refresh token the member's apps hold (or one app's); returns how many
    refresh tokens were live.

    Each refresh token family is revoked (RefreshToken.revoke_family, which also deletes the
    family's access tokens, those exchanged from it by other apps included); tokens outside a
    family go too, so the API rejects them on the next request.
    """
    refresh_tokens = RefreshToken.objects.filter(user=user, revoked__isnull=True)
    access_tokens = AccessToken.objects.filter(user=user)
    if application is not None:
        refresh_tokens = refresh_tokens.filter(application=application)
        access_tokens = access_tokens.filter(application=application)
    live = refresh_tokens.count()
    families = set(refresh_tokens.exclude(token_family=None).values_list("token_family", flat=True))
    # A chain without a refresh token (no offline_access) still reaches the tokens other apps got
    # for it by token exchange; an exchanged token's own family is another app's chain, left alone.
    families |= set(
        access_tokens.filter(issued_by_exchange=False)
        .exclude(token_family=None)
        .values_list("token_family", flat=True)
    )
    for family in families:
        RefreshToken.revoke_family(family)
    refresh_tokens.update(revoked=timezone.now())
    # Locked before the DELETE reads them, as in RefreshToken.revoke_family: a token exchanged
    # from one of them at this moment is committed first, and deleted too.
    list(access_tokens.select_for_update().values_list("pk", flat=True))
    access_tokens.delete()
    return live
