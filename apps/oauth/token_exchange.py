"""Token exchange (RFC 8693) at the token endpoint: a service trades a member's token for a narrower one.

A confidential client with a TokenExchangePolicy (the admin's) sends a member's access token as
`subject_token` and gets a new access token of the same member, for itself, for the audience it
names (`resource` and/or `audience`), with at most the scopes the member's token had, the policy
allows and the client is allowed; no refresh token, and never living longer than the member's
token. The rules, each a function below:

- no policy (or a disabled one): `unauthorized_client` (LatchOAuth2Validator.validate_grant_type);
- `subject_token_type`, `actor_token_type` and `requested_token_type` other than an access token:
  `invalid_request` (§2.2.2);
- a subject token that is unknown, expired, revoked, a refresh token, an app's own token, or of a
  deactivated member: `invalid_request`, which §2.2.2 requires for a subject or actor token that is
  "invalid for any reason, or unacceptable based on policy" (not RFC 6749's `invalid_grant`);
- whose tokens a client may exchange (subject_token_acceptable): its own; one issued for an
  audience the policy says the client serves (RFC 8707 `resource`); or one of an app the policy
  lists. Any other, audience-restricted or not, is `invalid_request` (§2.2.2);
- every `resource` / `audience` must be one of the policy's, exactly: `invalid_target` otherwise;
  naming none is `invalid_request` (an unrestricted token would be wider than the member's);
- scope beyond subject ∩ policy ∩ client: `invalid_scope`; none asked: that intersection;
- an `actor_token` must be a live client-credentials token of the exchanging client itself: the
  service says that it acts. The new token records `act` (§4.1) and keeps the subject token's own
  `act`, nested, when that one was delegated too;
- a DPoP-bound subject or actor token needs a proof by its key (RFC 9449), like a bound refresh
  token; a proof sent with the request binds the new token (apps/oauth/dpop_binding.py).

The new token shares the subject token's `token_family`, so revoking the member's chain (sign out
everywhere, withdrawn consent, a replayed refresh token) deletes it too. The subject token's row
is locked until the new token is committed, and RefreshToken.revoke_family locks a family before
deleting it, so a revocation running at the same moment cannot miss the new token.
"""

import json
import logging

from django.utils import timezone
from oauth2_provider.oauth2_validators import is_valid_resource_uri
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.grant_types.base import GrantTypeBase

from apps.audit import services as audit
from apps.audit.models import AuditEvent
from apps.oauth import dpop_binding
from apps.oauth.models import TOKEN_EXCHANGE_GRANT_TYPE, AccessToken, Application, TokenExchangePolicy
from apps.oauth.validators import as_http_request, request_state, token_checksum

logger = logging.getLogger(__name__)

# RFC 8693 §3: the only token type Latch takes and issues.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
# A refresh token is never issued here (§2.2.1 allows one; a service's delegated access should
# end with the member's), so a scope asking for one means nothing and is refused.
NEVER_EXCHANGED_SCOPES = frozenset({"offline_access"})
SINGLE_PARAMETERS = (
    "grant_type",
    "scope",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
)


# --- Parameters ----------------------------------------------------------------------------------


def _parameter(request, name: str) -> str | None:
    value = getattr(request, name, None)  # the client's parameter (oauthlib's Request._params)
    return value if isinstance(value, str) and value else None


def check_token_types(request) -> None:
    """§2.1 / §2.2.2: the token types are present where needed and all name an access token."""
    if not _parameter(request, "subject_token"):
        raise errors.InvalidRequestError(
            description="The subject_token parameter is missing.", request=request
        )
    subject_type = _parameter(request, "subject_token_type")
    if subject_type != ACCESS_TOKEN_TYPE:
        raise errors.InvalidRequestError(
            description=f"subject_token_type must be {ACCESS_TOKEN_TYPE}.", request=request
        )
    actor, actor_type = _parameter(request, "actor_token"), _parameter(request, "actor_token_type")
    if bool(actor) != bool(actor_type):
        raise errors.InvalidRequestError(
            description="actor_token and actor_token_type go together, or neither is sent.", request=request
        )
    if actor_type is not None and actor_type != ACCESS_TOKEN_TYPE:
        raise errors.InvalidRequestError(
            description=f"actor_token_type must be {ACCESS_TOKEN_TYPE}.", request=request
        )
    requested = getattr(request, "requested_token_type", None)
    if requested is not None and requested != ACCESS_TOKEN_TYPE:
        raise errors.InvalidRequestError(
            description=f"Only an access token ({ACCESS_TOKEN_TYPE}) can be issued.", request=request
        )


def requested_targets(request) -> list[str]:
    """Every `resource` (RFC 8707, absolute URIs) and `audience` (RFC 8693 names), in order, once.

    Both may repeat (§2.1), which oauthlib's parameters lose: read from the decoded body."""
    body = getattr(request, "decoded_body", None) or []
    targets: list[str] = []
    for name, value in body:
        if name not in ("resource", "audience"):
            continue
        if not isinstance(value, str) or not value.strip():
            raise errors.InvalidRequestError(description=f"An empty {name} parameter.", request=request)
        if name == "resource" and not is_valid_resource_uri(value):
            raise errors.CustomOAuth2Error(
                error="invalid_target",
                description=f"The resource '{value}' is not an absolute URI (RFC 8707 §2).",
                request=request,
            )
        if value not in targets:
            targets.append(value)
    if not targets:
        raise errors.InvalidRequestError(
            description="Name the audience of the new token with resource or audience.", request=request
        )
    return targets


# --- The rules ------------------------------------------------------------------------------------


def check_targets(targets: list[str], policy: TokenExchangePolicy, request) -> None:
    allowed = set(policy.audiences or ())
    for target in targets:
        if target not in allowed:
            raise errors.CustomOAuth2Error(
                error="invalid_target",
                description=f"This client may not exchange tokens for '{target}'.",
                request=request,
            )


def live_subject_token(value: str, request) -> AccessToken:
    """The member's access token, locked (see the module docstring); `invalid_request` if unusable.

    A refresh token is not found: only access tokens are looked up. A revoked access token is
    deleted (DOT's revocation), so it is unknown as well.
    """
    token = (
        AccessToken.objects.select_for_update(of=("self",))
        .select_related("application", "user")
        .filter(token_checksum=token_checksum(value))
        .first()
    )
    if token is None or seconds_left(token) < 1:  # a new token must live a second at least
        raise errors.InvalidRequestError(
            description="The subject token is not a live access token.", request=request
        )
    if token.user is None:
        raise errors.InvalidRequestError(
            description="The subject token is an app's own token, not a member's.", request=request
        )
    if not token.user.is_active:
        raise errors.InvalidRequestError(
            description="The subject token's member is not active.", request=request
        )
    if token.token_family is None:
        # Only rows stored before access tokens had a family: nothing could revoke the new token.
        raise errors.InvalidRequestError(
            description="This subject token cannot be exchanged.", request=request
        )
    require_proof_key(token.jkt, "subject token", request)
    return token


def subject_token_acceptable(subject: AccessToken, policy: TokenExchangePolicy) -> bool:
    """Whose tokens the policy's client may exchange.

    A token is for the app it was issued to and, when audience-restricted (RFC 8707), for the
    APIs it names. So the client may exchange its own tokens, those issued for an audience the
    policy says it serves, and those of an app the administrator listed (the case of an
    unrestricted token that a front end passes to its own back end).
    """
    if subject.application_id == policy.client_id:
        return True
    if set(subject.resource or ()) & set(policy.served_audiences or ()):
        return True
    return policy.subject_clients.filter(pk=subject.application_id).exists()


def exchanged_scopes(
    requested: list[str], subject: AccessToken, policy: TokenExchangePolicy, client: Application, request
) -> list[str]:
    """At most subject ∩ policy ∩ client (DESIGN.md: an app's allowed scopes bound every grant),
    in the subject token's order; all of that when none is asked."""
    ceiling = set(policy.scopes or ()) & set(client.allowed_scopes or ())
    available = [s for s in subject.scope.split() if s in ceiling and s not in NEVER_EXCHANGED_SCOPES]
    if not requested:
        if not available:
            raise errors.InvalidScopeError(
                description="The subject token has no scope this client may pass on.", request=request
            )
        return available
    beyond = [scope for scope in requested if scope not in available]
    if beyond:
        raise errors.InvalidScopeError(
            description="Beyond the subject token's scopes or this client's policy: " + " ".join(beyond),
            request=request,
        )
    return list(dict.fromkeys(requested))


def actor_claim(value: str | None, subject: AccessToken, client: Application, request) -> dict | None:
    """The new token's `act` (RFC 8693 §4.1): the acting client, with the subject's own `act` nested.

    The actor token must be a live client-credentials token of the exchanging client: a service
    can say only that it acts itself. `sub` of an app is its client_id (as RFC 9068 §2.2 has it for
    a client-credentials JWT). Without an actor token the subject token's `act`, if any, is kept:
    a delegated token never loses who acted before.
    """
    if value is None:
        return subject.actor
    actor = (
        AccessToken.objects.select_related("application")
        .filter(token_checksum=token_checksum(value), application=client, user__isnull=True)
        .first()
    )
    if actor is None or actor.is_expired():
        raise errors.InvalidRequestError(
            description="The actor token is not a live client-credentials token of this client.",
            request=request,
        )
    require_proof_key(actor.jkt, "actor token", request)
    claim: dict = {"sub": client.client_id, "client_id": client.client_id}
    if subject.actor:
        claim["act"] = subject.actor
    return claim


def require_proof_key(bound_jkt: str, what: str, request) -> None:
    """A bound subject or actor token needs a DPoP proof by its key; its refusal is §2.2.2's code."""
    try:
        dpop_binding.check_proof_key(bound_jkt, what, request)
    except errors.InvalidGrantError as refused:
        raise errors.InvalidRequestError(description=refused.description, request=request) from refused


def seconds_left(subject: AccessToken) -> int:
    return int((subject.expires - timezone.now()).total_seconds())


# --- The grant ------------------------------------------------------------------------------------


class TokenExchangeGrant(GrantTypeBase):
    """`urn:ietf:params:oauth:grant-type:token-exchange`, written as oauthlib's ClientCredentialsGrant.

    Validation ends with the request carrying what the validator saves: `user`, `scopes`, and in
    LatchRequestState the targets, the family and the actor (read by LatchOAuth2Validator).
    """

    refresh_token = False

    def create_token_response(self, request, token_handler):
        headers = self._get_default_headers()
        try:
            subject = self.validate_token_request(request)
        except errors.OAuth2Error as refused:
            logger.info(
                "oauth.token_exchange_refused client=%s error=%s",
                getattr(request.client, "client_id", ""),
                refused.error,
                extra={"event": "oauth.token_exchange_refused", "details": {"error": refused.error}},
            )
            headers.update(refused.headers)
            return headers, refused.json, refused.status_code

        # Never beyond the member's own token: validation capped the lifetime (state.lifetime_cap).
        token = token_handler.create_token(request, refresh_token=False)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        for modifier in self._token_modifiers:
            token = modifier(token)
        self.request_validator.save_token(token, request)
        state = request_state(request)
        audit.record(
            AuditEvent.Event.TOKEN_EXCHANGED,
            request=as_http_request(request),
            user=request.user,
            client_id=request.client.client_id,
            member=str(request.user.public_id),
            subject_client=subject.application.client_id,
            audience=state.exchange_targets,
            scope=token["scope"],
            actor=state.actor,
        )
        return headers, json.dumps(token), 200

    def validate_token_request(self, request) -> AccessToken:
        for validator in self.custom_validators.pre_token:
            validator(request)
        if request.grant_type != TOKEN_EXCHANGE_GRANT_TYPE:
            raise errors.UnsupportedGrantTypeError(request=request)
        for name in SINGLE_PARAMETERS:
            if name in request.duplicate_params:
                raise errors.InvalidRequestError(description=f"Duplicate {name} parameter.", request=request)

        # RFC 8693 §2.1: client authentication as at any token request; a public client has none.
        if not self.request_validator.authenticate_client(request):
            raise errors.InvalidClientError(request=request)
        self.validate_grant_type(request)  # the client's policy: unauthorized_client without one
        request.client_id = request.client_id or request.client.client_id
        state = request_state(request)
        policy = state.exchange_policy
        if policy is None:  # validate_grant_type sets it, or refuses
            raise errors.UnauthorizedClientError(request=request)

        check_token_types(request)
        targets = requested_targets(request)
        check_targets(targets, policy, request)
        subject = live_subject_token(request.subject_token, request)
        if not subject_token_acceptable(subject, policy):
            raise errors.InvalidRequestError(
                description="This client may not exchange tokens issued to that app or for that audience.",
                request=request,
            )
        actor = actor_claim(_parameter(request, "actor_token"), subject, request.client, request)
        request.scopes = exchanged_scopes(request.scopes or [], subject, policy, request.client, request)
        self.validate_scopes(request)  # and the validator's own check, as for every grant

        request.user = subject.user
        request.resource = targets
        state.exchange_targets = targets
        state.token_family = subject.token_family
        state.actor = actor
        # Checked while the subject token is locked; oauthlib's token_expires_in reads it.
        state.lifetime_cap = seconds_left(subject)
        for validator in self.custom_validators.post_token:
            validator(request)
        return subject
