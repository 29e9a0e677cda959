"""Remembered consent: what a member has allowed each application (services; see Consent)."""

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlparse

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.oauth.models import Application, Consent, Grant
from apps.oauth.services import revoke_member_tokens


def asks_every_time(application: Application, redirect_uri: str) -> bool:
    """Whether this request shows the consent page whatever the member allowed before (RFC 8252 §8.6).

    A public client has no secret, and a redirect URI that any program on the member's device can
    receive (a loopback address, on any port DOT accepts, or a private-use URI scheme) does not
    prove which app is asking: any local program could name this client and, with remembered
    consent or skip_authorization, receive its tokens without the member seeing a page. Only a
    claimed https redirect URI (not on a loopback host) identifies a public client; confidential
    clients authenticate at the token endpoint.
    """
    if application.client_type != Application.CLIENT_PUBLIC:
        return False
    parts = urlparse(redirect_uri)
    return parts.scheme != "https" or _is_loopback(parts.hostname or "")


def _is_loopback(host: str) -> bool:
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761 §6.3
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_scopes(user, application: Application) -> list[str]:
    consent = Consent.objects.filter(user=user, application=application).only("scopes").first()
    return list(consent.scopes) if consent else []


def missing_scopes(user, application: Application, scopes: Iterable[str]) -> list[str]:
    """The requested scopes the member has not allowed yet, in request order."""
    allowed = set(allowed_scopes(user, application))
    return [scope for scope in scopes if scope not in allowed]


@transaction.atomic
def grant(user, application: Application, scopes: Iterable[str]) -> Consent:
    """Record that the member allowed `scopes`, added to what they allowed before (never narrowed)."""
    try:
        with transaction.atomic():
            consent, _created = Consent.objects.select_for_update().get_or_create(
                user=user, application=application
            )
    except IntegrityError:  # a concurrent first grant won the race: merge into its row
        consent = Consent.objects.select_for_update().get(user=user, application=application)
    merged = list(consent.scopes) + [s for s in scopes if s not in consent.scopes]
    consent.scopes = list(dict.fromkeys(merged))
    consent.last_used_at = timezone.now()
    consent.save()
    return consent


def touch(user, application: Application) -> None:
    """The remembered consent answered an authorization request without the page."""
    Consent.objects.filter(user=user, application=application).update(last_used_at=timezone.now())


@transaction.atomic
def revoke_consent(user, application: Application) -> None:
    """Forget the consent and revoke at once everything the app holds for this member.

    Unredeemed authorization codes go too, so nothing issued under the old consent works afterwards.
    """
    Consent.objects.filter(user=user, application=application).delete()
    revoke_member_tokens(user, application)
    Grant.objects.filter(user=user, application=application, redeemed_at__isnull=True).delete()
