"""The device code at the token endpoint (RFC 8628 §3.4, §3.5): oauthlib custom validators.

oauthlib 3.3.1's DeviceCodeGrant authenticates the client and checks its grant type but never
looks at the device code; DOT's pre-token hook for it reads the code in plaintext, lets a missing
or unknown code raise (a 500), and never makes a code single-use. Latch registers these two
functions with the grant instead (apps/oauth/server.py):

- `mark_device_poll` (pre_token) runs only inside the device grant's validation: it tells
  LatchOAuth2Validator.authenticate_client that a public client may identify itself by its
  client_id here (RFC 8628 §3.4), as DOT allows.
- `redeem_device_code` (post_token) runs once the client is authenticated and allowed the grant.
"""

from datetime import timedelta

from django.utils import timezone
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc8628 import errors as device_errors

from apps.audit import services as audit
from apps.audit.models import AuditEvent
from apps.oauth.models import DeviceGrant
from apps.oauth.validators import SignIn, as_http_request, request_state

# RFC 8628 §3.5: each slow_down raises the device's interval by 5 seconds.
SLOW_DOWN_SECONDS = 5


def mark_device_poll(request) -> None:
    request_state(request).device_poll = True


def redeem_device_code(request) -> None:
    """Tokens for an approved device code, once; else the RFC 8628 §3.5 error for its state.

    The grant's row is locked until the token request commits (TokenView's transaction): of two
    concurrent polls of an approved code, the second waits, finds it redeemed and gets
    `invalid_grant`. A poll sooner than `interval` after the previous one, while the member has
    not answered, gets `slow_down` and a 5 seconds longer interval from then on.
    """
    device_code = getattr(request, "device_code", None)
    if not device_code or not isinstance(device_code, str):
        raise errors.InvalidRequestError(description="The device_code parameter is missing.", request=request)
    grant = (
        DeviceGrant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(device_code=device_code, client_id=request.client.client_id)
        .first()
    )
    if grant is None:
        raise errors.InvalidGrantError(description="The device code is not known.", request=request)
    now = timezone.now()
    if grant.redeemed_at is not None:
        audit.record(
            AuditEvent.Event.AUTHORIZATION_CODE_REUSED,
            request=as_http_request(request),
            client_id=request.client.client_id,
            device_grant=grant.pk,
        )
        raise errors.InvalidGrantError(description="The device code was already used.", request=request)
    if grant.expires <= now:
        raise device_errors.ExpiredTokenError(request=request)
    if grant.status == DeviceGrant.DENIED:
        raise device_errors.AccessDenied(request=request)
    if grant.status != DeviceGrant.AUTHORIZED:
        _record_poll(grant, now, request)
    if grant.user is None or not grant.user.is_active:
        raise errors.InvalidGrantError(
            description="The member who approved is no longer active.", request=request
        )
    allowed = set(request.client.allowed_scopes or ())
    scopes = [scope for scope in grant.scope.split() if scope in allowed]
    if not scopes:
        raise errors.InvalidScopeError(
            description="None of the approved scopes are allowed for the application any more.",
            request=request,
        )
    DeviceGrant.objects.filter(pk=grant.pk).update(redeemed_at=now)
    # What validate_code sets for an authorization code; a client's own nonce or claims
    # parameters never reach the id_token.
    request.user = grant.user
    request.scopes = scopes
    request.nonce = None
    request.claims = None
    state = request_state(request)
    state.token_family = grant.token_family
    state.sign_in = SignIn.of(grant)
    state.chain_scope = " ".join(scopes)


def _record_poll(grant: DeviceGrant, now, request) -> None:
    """Note the poll of a grant the member has not answered, and refuse it (pending or slow_down)."""
    too_soon = grant.polled_at is not None and now - grant.polled_at < timedelta(seconds=grant.interval)
    interval = grant.interval + SLOW_DOWN_SECONDS if too_soon else grant.interval
    DeviceGrant.objects.filter(pk=grant.pk).update(polled_at=now, interval=interval)
    if too_soon:
        raise device_errors.SlowDownError(
            description=f"Poll at most every {interval} seconds.", request=request
        )
    raise device_errors.AuthorizationPendingError(request=request)
