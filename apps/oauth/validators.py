"""Latch's OAuth2Validator: DOT's documented hook for every protocol decision Latch makes its own."""

import json
import logging
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.db import router, transaction
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import refresh_token_expire_timedelta
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors, utils

from apps.audit import services as audit
from apps.audit.models import AuditEvent
from apps.backchannel import services as backchannel
from apps.core.fields import Digest, sha256_hex
from apps.oauth import client_assertion, client_cache, dpop_binding, dpop_resource, keys, lookups
from apps.oauth.device_validator import DeviceCodeValidatorMixin
from apps.oauth.models import (
    TOKEN_EXCHANGE_GRANT_TYPE,
    AccessToken,
    Acr,
    Application,
    Grant,
    IDToken,
    RefreshToken,
    SignInRecord,
    TokenExchangePolicy,
)

logger = logging.getLogger(__name__)

# Shown in the admin to recognise a token: 6 base64url characters are 36 of a token's 256 random
# bits (apps/oauth/tokens.py), which leaves 220 unknown.
TOKEN_PREFIX_LENGTH = 6

# Grants with nothing to lock, whose one access token is stored with its audit row by one
# statement: TokenView opens no transaction for them (save_bearer_token).
UNLOCKED_GRANTS = frozenset({"client_credentials"})

# The access token this token request issued, for TokenView's `app_authorized` signal: DOT would
# look it up again by the value in the response body.
issued_access_token: ContextVar[AccessToken | None] = ContextVar("issued_access_token", default=None)


def token_checksum(token: str) -> str:
    """How DOT finds a token: by the SHA-256 of its value (only the digest is stored)."""
    return sha256_hex(token)


def as_http_request(request) -> HttpRequest:
    """Enough of a Django request for the audit log to read the client's address from."""
    http_request = HttpRequest()
    http_request.META = dict(request.headers)
    return http_request


@dataclass(frozen=True)
class SignIn:
    """How the member signed in (RFC 8176 `amr`, Latch's `acr`), on its way to the id_token.

    AuthorizeView passes it with the credentials of create_authorization_response, as
    `latch_sign_in` (read by `from_credentials`); it is stored with the code, copied to the
    refresh tokens, and carried through a token request in LatchRequestState.sign_in.
    """

    amr: tuple[str, ...] = ()
    acr: str = ""
    auth_time: datetime | None = None
    # The browser session's `sid` (apps/accounts/services.py session_sid); empty for a device grant,
    # whose tokens live on a device, not in the browser that approved it.
    sid: str = ""

    @classmethod
    def of(cls, row: SignInRecord) -> "SignIn":
        return cls(amr=tuple(row.amr or ()), acr=row.acr, auth_time=row.auth_time, sid=row.sid)

    @classmethod
    def from_credentials(cls, request) -> "SignIn":
        """The sign-in AuthorizeView passed as the `latch_sign_in` credential; nothing known if none.

        oauthlib sets each credential as an attribute of its request, so it is in the request's
        own `__dict__`; reading only there never falls back to a client parameter of that name
        (see LatchRequestState).
        """
        sign_in = vars(request).get("latch_sign_in")
        return sign_in if isinstance(sign_in, cls) else cls()

    def store_on(self, row: SignInRecord) -> None:
        row.amr, row.acr, row.auth_time, row.sid = list(self.amr), self.acr, self.auth_time, self.sid

    def claims(self) -> dict[str, object]:
        """`acr` always (the lowest level unless two factors are on record), `amr` when known, and
        `auth_time` when recorded (else DOT's, from user.last_login), `sid` when the chain began in
        a browser session."""
        claims: dict[str, object] = {"acr": self.acr or Acr.PASSWORD.value}
        if self.amr:
            claims["amr"] = list(self.amr)
        if self.auth_time:
            claims["auth_time"] = int(self.auth_time.timestamp())
        if self.sid:
            claims["sid"] = self.sid
        return claims


@dataclass
class LatchRequestState:
    """What the validator learns in one of oauthlib's calls and needs in a later one, per request.

    Why one object, and never `getattr(request, name, default)`: oauthlib's Request answers any
    attribute it does not have with the client's parameter of that name (`Request.__getattr__`
    reads its `_params`, which hold every query and body parameter). Read before Latch had set it,
    `request.token_family` was whatever the client sent, and was stored on its new token. The
    state lives in the request's own `__dict__` under STATE_KEY and is read only from there
    (request_state), so no parameter, whatever its name, can stand in for it.
    """

    # The code this request redeems and its grant, read once and locked (LatchOAuth2Validator._grant).
    grant_lookup: tuple[str, Grant | None] | None = None
    # The family of the code or refresh token being spent, for the tokens issued from it.
    token_family: uuid.UUID | None = None
    # How the member signed in where the token chain began.
    sign_in: SignIn = field(default_factory=SignIn)
    # The id_token row this request stored, for its access token.
    id_token: IDToken | None = None
    # The refresh token this request rotated out, recorded on the new access token.
    spent_refresh_token: RefreshToken | None = None
    # The scope of the token chain (RFC 6749 §6), for the refresh token this request issues: the
    # code's, or the spent refresh token's. Not the request's scopes, which a refresh may narrow.
    chain_scope: str = ""
    # A device grant's token request (RFC 8628 §3.4), set only inside that grant's validation
    # (apps/oauth/device_token.py): a public client may identify itself by its client_id there.
    device_poll: bool = False
    # A token exchange (apps/oauth/token_exchange.py): the client's policy (validate_grant_type),
    # the new token's audiences and its RFC 8693 `act`.
    exchange_policy: TokenExchangePolicy | None = None
    exchange_targets: list[str] = field(default_factory=list)
    actor: dict | None = None
    # The longest the access token may live, when less than its app's lifetime: an exchanged token
    # never outlives the member's token it came from (apps/oauth/tokens.access_token_lifetime).
    lifetime_cap: int | None = None
    # The claims of the JWT access token this request signed (apps/oauth/jwt_access_tokens.py), for
    # its stored row: the same `exp` and `jti`. None for an opaque token.
    access_token_claims: dict | None = None
    # The client assertion that authenticated this request, and its client: oauthlib's device
    # grant authenticates the client twice per request, and the second check must not take the
    # assertion's spent jti for a replay.
    assertion_authenticated: tuple[str, Application] | None = None
    # The new access token, when nothing after it needs its primary key (no refresh token follows
    # it): stored with its `token.issued` audit row by one statement (_save_bearer_token).
    access_token_waits: bool = False
    unsaved_access_token: AccessToken | None = None


# A key no attribute syntax can produce, so no code sets it by accident either.
STATE_KEY = "latch:request-state"


def client_assertion_parameters(request) -> tuple[str | None, str | None] | None:
    """The request's (client_assertion_type, client_assertion) when it sends either; else None.

    Read with getattr on purpose: these are the client's parameters (oauthlib's Request answers
    them from its body), not state Latch sets.
    """
    assertion_type = getattr(request, "client_assertion_type", None)
    assertion = getattr(request, "client_assertion", None)
    if assertion_type is None and assertion is None:
        return None
    return assertion_type, assertion


def basic_credentials_sent(request) -> bool:
    """Whether the request has an HTTP Basic Authorization header (RFC 6749 §2.3.1)."""
    header = request.headers.get("Authorization") or request.headers.get("HTTP_AUTHORIZATION") or ""
    return header.split(" ", 1)[0].lower() == "basic"


def request_state(request) -> LatchRequestState:
    """The request's LatchRequestState, created empty on first use."""
    attributes = vars(request)
    state = attributes.get(STATE_KEY)
    if not isinstance(state, LatchRequestState):
        state = attributes[STATE_KEY] = LatchRequestState()
    return state


def token_owner_summary(user, scopes: list[str]) -> tuple[str, dict[str, str]]:
    """The `member` (or `admin`) object of a user token response, limited by what was consented."""
    summary = {"id": str(user.public_id)}
    if {"profile", "member-read"} & set(scopes):
        summary["name"] = user.get_full_name()
    if {"email", "member-read"} & set(scopes):
        summary["email"] = user.email
    return ("admin" if user.is_staff else "member"), summary


class LatchOAuth2Validator(DeviceCodeValidatorMixin, OAuth2Validator):
    # --- Scopes: the application's allowed set, for every grant --------------------------------

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs) -> bool:
        # No scope asked and no default allowed: nothing to grant, so `invalid_scope`.
        if not scopes:
            return False
        return super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)

    def get_original_scopes(self, refresh_token, request, *args, **kwargs) -> list[str]:
        """The refresh token's own scope (RFC 6749 §6), less any the administrator has since withdrawn.

        DOT reads the scope of the token's access token, which a refresh asking for less has
        narrowed; Latch stores the chain's scope on each refresh token. Rows stored before it
        (empty `scope`) fall back to DOT's answer. What is left is also the successor's scope:
        a scope withdrawn from the app is gone from the chain for good.
        """
        stored = request.refresh_token_instance.scope
        original = utils.scope_to_list(
            stored or super().get_original_scopes(refresh_token, request, *args, **kwargs)
        )
        allowed = set(request.client.allowed_scopes or ())
        scopes = [scope for scope in original if scope in allowed]
        if not scopes:
            raise errors.InvalidScopeError(
                description="None of this token's scopes are allowed for the application any more.",
                request=request,
            )
        request_state(request).chain_scope = " ".join(scopes)
        return scopes

    # --- Client authentication -------------------------------------------------------------------

    def _load_application(self, client_id, request):
        """DOT's, with the client's row kept between changes (apps/oauth/client_cache.py) or read by
        a query compiled once (apps/oauth/lookups.py).

        DOT reuses `request.client` when it is the client asked for and still usable, so finding it
        first leaves every check to DOT. Unknown ids and ids the database cannot represent (a NUL
        byte) fall through to DOT's own lookup and error handling.
        """
        if not request.client:
            try:
                request.client = client_cache.application(client_id)
            except ValueError:
                request.client = None
        return super()._load_application(client_id, request)

    def client_authentication_required(self, request, *args, **kwargs) -> bool:
        """DOT's answer, and always yes for a request with a client assertion: it may carry no
        client_id at all (RFC 7523 §3: the client is the assertion's `sub`)."""
        if client_assertion_parameters(request):
            return True
        return super().client_authentication_required(request, *args, **kwargs)

    def authenticate_client(self, request, *args, **kwargs) -> bool:
        """A client assertion (private_key_jwt), or DOT's secret check; then the app's own method.

        Only a confidential client can authenticate: a public one has no secret to prove.
        Without this, a public client (whose stored secret is empty) would "authenticate" with an
        empty secret and pass as authenticated at endpoints that require it, such as introspection.
        The one exception is a device's poll of the token endpoint (RFC 8628 §3.4), where a public
        client sends only its client_id, as at the authorization code grant.

        An app registered for one method (Application.token_endpoint_auth_method) is refused any
        other: a private_key_jwt app any secret (an empty one would otherwise match its empty stored
        secret), a client_secret_basic app a secret in the body, a client_secret_post app HTTP
        Basic. "" accepts a secret either way, as before.
        """
        if client_assertion_parameters(request):
            return self._authenticate_by_assertion(request)
        if not super().authenticate_client(request, *args, **kwargs):
            return False
        method = request.client.token_endpoint_auth_method
        basic, body_secret = basic_credentials_sent(request), bool(request.client_secret)
        if (
            method == "private_key_jwt"
            or (method == "client_secret_basic" and (body_secret or not basic))
            or (method == "client_secret_post" and basic)
        ):
            return False
        if request_state(request).device_poll:
            return True
        return request.client.client_type == Application.CLIENT_CONFIDENTIAL

    def _authenticate_by_assertion(self, request) -> bool:
        """RFC 7523 §3 (apps/oauth/client_assertion.py) for the client the assertion names.

        One method per request (RFC 6749 §2.3): an assertion with a secret or HTTP Basic is
        refused. A client_id sent beside it must be the assertion's. On failure the client is not
        left on the request, so nothing after this can mistake it for authenticated.
        """
        assertion_type, assertion = client_assertion_parameters(request) or (None, None)
        assertion = assertion if isinstance(assertion, str) else ""
        state = request_state(request)
        if state.assertion_authenticated and state.assertion_authenticated[0] == assertion:
            request.client = state.assertion_authenticated[1]
            return True
        client_id = client_assertion.claimed_client_id(assertion)
        if (
            assertion_type != client_assertion.ASSERTION_TYPE
            or not client_id
            or basic_credentials_sent(request)
            or request.client_secret
            or (request.client_id and request.client_id != client_id)
            or self._load_application(client_id, request) is None
        ):
            request.client = None
            return False
        client = request.client
        if client.token_endpoint_auth_method != "private_key_jwt" or client.client_type != (
            Application.CLIENT_CONFIDENTIAL
        ):
            request.client = None
            return False
        accepted = client_assertion.audiences(
            oauth2_settings.oidc_issuer(request), urlsplit(request.uri).path
        )
        try:
            client_assertion.verify(assertion, client, accepted_audiences=accepted)
        except client_assertion.InvalidAssertion as refused:
            logger.info("oauth.client_assertion_refused client=%r reason=%s", client_id, refused)
            request.client = None
            return False
        request.client_id = client_id
        state.assertion_authenticated = (assertion, client)
        return True

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs) -> bool:
        """DOT's, and then RFC 9449 §5.2: an app that requires DPoP sends a proof (every grant asks
        this once its client is authenticated, the device grant included).

        Token exchange (RFC 8693) is allowed to a client with an enabled TokenExchangePolicy,
        whatever its DOT grant type, and to no other; DOT knows nothing of the grant.
        """
        if grant_type == TOKEN_EXCHANGE_GRANT_TYPE:
            policy = TokenExchangePolicy.objects.filter(client=client, enabled=True).first()
            if policy is None:
                return False
            request_state(request).exchange_policy = policy
        elif not super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs):
            return False
        dpop_binding.check_client_sent_proof(client, request)
        return True

    # --- Authorization requests ------------------------------------------------------------------

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs) -> bool:
        # oauthlib hands unknown response types to the code grant, which would call them
        # `unauthorized_client`; RFC 6749 §4.1.2.1 names them `unsupported_response_type`.
        if response_type != "code":
            raise errors.UnsupportedResponseTypeError(request=request)
        return super().validate_response_type(client_id, response_type, client, request, *args, **kwargs)

    def validate_silent_login(self, request) -> bool:
        # oauthlib's request carries no session, so AuthorizeView decides `prompt=none` (OIDC Core
        # §3.1.2.6): DOT's handle_no_permission answers `login_required` to a signed-out member,
        # and the view does when max_age asks for a fresher sign-in.
        return True

    def validate_silent_authorization(self, request) -> bool:
        # AuthorizeView answers `consent_required` itself when the member has not allowed every
        # requested scope (apps/oauth/consent.py): only it knows who the member is.
        return True

    # --- PKCE: S256 from every client (OAuth 2.1), unless an old confidential one is opted out ---

    def is_pkce_required(self, client_id, request) -> bool:
        """Required from every client but a confidential one an administrator has opted out
        (`Application.pkce_optional`); oauthlib then answers `invalid_request` at the
        authorization endpoint and refuses a code without its verifier. Only S256 exists
        (apps/oauth/server.py)."""
        client = request.client if isinstance(request.client, Application) else None
        if client is None:
            client = self._load_application(client_id, request)
        if client is None:
            return True
        return not (client.client_type == Application.CLIENT_CONFIDENTIAL and client.pkce_optional)

    # --- Authorization codes: single use, a replay revokes what the code gave ------------------

    def _grant(self, code: str, request, client: Application | None = None) -> Grant | None:
        """The code's grant, read once per token request and locked until the request commits.

        oauthlib asks about the code six times (its scopes, client, redirect URI, PKCE challenge
        and method, nonce) and DOT answers each with a query of its own; this answers them all from
        one. The lock makes the second of two concurrent redemptions see the first's `redeemed_at`
        and be treated as the replay it is. Only the grant's own row is locked (`of`), not its user.
        """
        state = request_state(request)
        if state.grant_lookup is None or state.grant_lookup[0] != code:
            state.grant_lookup = (code, lookups.grant_for_update.first(Digest(sha256_hex(code))))
        grant = state.grant_lookup[1]
        if grant is None or (client is not None and grant.application_id != client.pk):
            return None
        return grant

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request) -> list[str]:
        grant = self._grant(code, request)
        return utils.scope_to_list(grant.scope) if grant else []

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request) -> str | None:
        grant = self._grant(code, request)
        return (grant.nonce or None) if grant else None

    def get_code_challenge(self, code, request) -> str | None:
        grant = self._grant(code, request, request.client)
        return (grant.code_challenge or None) if grant else None

    def get_code_challenge_method(self, code, request) -> str | None:
        grant = self._grant(code, request, request.client)
        return (grant.code_challenge_method or None) if grant else None

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        grant = self._grant(code, request, client)
        if grant is None:
            return False
        if grant.redeemed_at is not None:
            audit.record(
                AuditEvent.Event.AUTHORIZATION_CODE_REUSED,
                request=as_http_request(request),
                client_id=client.client_id,
                grant=grant.pk,
                member=str(grant.user.public_id),
                action="revoked every token issued from the code",
            )
            RefreshToken.revoke_family(grant.token_family)
            return False
        if not grant.user.is_active or grant.is_expired():
            return False
        if not grant.code_challenge and request.code_verifier is not None:
            # RFC 9700 §4.8.2 (PKCE downgrade): oauthlib checks a verifier only against a code that
            # has a challenge. A client that sent PKCE gets a code with a challenge; a verifier
            # arriving with a challenge-less code means the code is not the one its flow started.
            raise errors.InvalidGrantError(
                description="This code was issued without a code_challenge; a code_verifier cannot match it.",
                request=request,
            )
        dpop_binding.check_proof_key(grant.jkt, "authorization code", request)  # RFC 9449 §10
        # What DOT's validate_code sets, from the grant already in hand.
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        state = request_state(request)
        state.token_family = grant.token_family
        state.sign_in = SignIn.of(grant)
        state.chain_scope = grant.scope
        return True

    def save_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        """DOT's code, plus how the member signed in and the DPoP key the request named (RFC 9449
        §10), both passed by AuthorizeView with the credentials. The browser session is noted as
        signed into the app, for back-channel logout when it ends (apps/backchannel)."""
        grant = self._create_authorization_code(request, code)
        sign_in = SignIn.from_credentials(request)
        sign_in.store_on(grant)
        grant.jkt = dpop_binding.requested_jkt(request)
        grant.save(update_fields=["amr", "acr", "auth_time", "sid", "jkt"])
        if sign_in.sid:
            backchannel.note_session_sign_in(sid=sign_in.sid, user=grant.user, application=grant.application)

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs) -> bool:
        grant = self._grant(code, request, client)
        # RFC 6749 §5.2 names this case `invalid_grant` (oauthlib would answer `invalid_request`).
        if grant is None or not grant.redirect_uri_allowed(redirect_uri):
            raise errors.InvalidGrantError(
                description="redirect_uri does not match the one in the authorization request.",
                request=request,
            )
        return True

    def resolve_token_resources(self, request) -> list[str]:
        """The RFC 8707 resources of the access token this request is about to get, settled now.

        A JWT access token names them in `aud` when it is made (apps/oauth/tokens.py), but DOT
        settles them only in _save_bearer_token, after the token exists. This runs the same check
        earlier; it is idempotent (once `request.resource` is a list, DOT's later call re-checks
        that list), so the stored row gets the same resources. A bad resource is `invalid_target`
        here instead of a moment later, and nothing is stored either way.
        """
        self._check_and_set_request_resource(request)
        return list(request.resource)

    def _check_and_set_request_resource(self, request) -> None:
        """RFC 8707 at the token endpoint, with a code's resources taken from the grant in hand.

        DOT reads the code's grant again for its resources (a sixth of a redemption's time). For
        a code this lets DOT normalise and check the requested URIs as for any grant, then applies
        the code's rule to the grant already read: the request may name fewer of the code's
        resources, never others; naming none means all of them.
        """
        if request.grant_type == TOKEN_EXCHANGE_GRANT_TYPE:
            # Checked against the client's policy by the grant, `audience` names included, which
            # DOT would refuse as not being URIs (apps/oauth/token_exchange.py).
            request.resource = list(request_state(request).exchange_targets)
            return None
        if request.grant_type != "authorization_code":
            return super()._check_and_set_request_resource(request)
        grant = self._grant(request.code, request, request.client)
        request.grant_type = "latch:resource-uris-only"  # DOT's checks that depend on no grant
        try:
            super()._check_and_set_request_resource(request)
        finally:
            request.grant_type = "authorization_code"
        granted = (grant.resource or []) if grant is not None else []
        if request.resource and granted:
            for resource in request.resource:
                if resource not in granted:
                    raise errors.CustomOAuth2Error(
                        error="invalid_target",
                        description=f"The resource '{resource}' was not part of the authorization.",
                        request=request,
                    )
        elif granted:
            self._validate_resource_uris(request, granted)
            request.resource = granted
        return None

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        redeemed = Grant.objects.filter(
            code=code, application=request.client, redeemed_at__isnull=True
        ).update(redeemed_at=timezone.now())
        if not redeemed:
            raise errors.InvalidGrantError(request=request)

    # --- Refresh tokens: rotation, reuse detection, lifetime -----------------------------------

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        """A live refresh token is locked and read with its user, client and access token at once;
        anything else (unknown, revoked, replayed, orphaned, expired) goes through DOT's checks.

        The lock makes the second of two concurrent refreshes with one token wait, then find the
        token rotated and be refused (and its family revoked) as the replay it is.
        """
        live = lookups.live_refresh_token_for_update.first(token_checksum(refresh_token))
        if live is not None and self._still_usable(live):
            # What DOT's validate_refresh_token concludes for a live, unexpired token.
            request.user = live.user
            request.refresh_token = refresh_token
            request.refresh_token_instance = live
            valid = live.application_id == getattr(client, "pk", None)
        else:
            valid = self._validate_refresh_token_by_dot(refresh_token, client, request, *args, **kwargs)
        if valid and not request.user.is_active:
            return False
        if valid:
            # RFC 9449 §5: a public client's refresh token works only with a proof by its key.
            dpop_binding.check_proof_key(request.refresh_token_instance.jkt, "refresh token", request)
            state = request_state(request)
            state.token_family = request.refresh_token_instance.token_family
            state.sign_in = SignIn.of(request.refresh_token_instance)
        return valid

    @staticmethod
    def _still_usable(live: RefreshToken) -> bool:
        """DOT's test for a live token: it has its access token, and its lifetime (counted from
        that access token's expiry) has not run out."""
        if live.access_token is None:
            return False
        lifetime = refresh_token_expire_timedelta()
        return not (lifetime and live.access_token.expires + lifetime <= timezone.now())

    def _validate_refresh_token_by_dot(self, refresh_token, client, request, *args, **kwargs) -> bool:
        # Lock every row with this digest first: a replay must wait for a rotation in progress.
        locked = list(
            RefreshToken.objects.select_for_update()
            .filter(token_checksum=token_checksum(refresh_token))
            .values_list("revoked", "token_family")
        )
        if locked and all(revoked is not None for revoked, _ in locked):
            audit.record(
                AuditEvent.Event.REFRESH_TOKEN_REUSED,
                request=as_http_request(request),
                client_id=getattr(client, "client_id", ""),
                family=str(locked[0][1]),
                action="revoked the token family",
            )
        return super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)

    # --- Issuing tokens -------------------------------------------------------------------------

    def save_bearer_token(self, token, request, *args, **kwargs) -> None:
        """DOT's, inside TokenView's transaction rather than a savepoint of its own (two statements
        per token request saved; an error still rolls the whole request back).

        TokenView opens no transaction for client_credentials (UNLOCKED_GRANTS): its token is
        stored by one statement, with its audit row, which a transaction here would only wrap in
        BEGIN and COMMIT. Inside a caller's transaction (a test's, ATOMIC_REQUESTS) it gets the savepoint
        TokenView's own transaction would have been, so that a refusal leaves the caller's usable.
        """
        using = router.db_for_write(AccessToken)
        if request.grant_type in UNLOCKED_GRANTS:
            if not transaction.get_connection(using).in_atomic_block:
                self._save_bearer_token(token, request, *args, **kwargs)
                return
            with transaction.atomic(using=using):
                self._save_bearer_token(token, request, *args, **kwargs)
            return
        with transaction.atomic(using=using, savepoint=False):
            self._save_bearer_token(token, request, *args, **kwargs)

    def _save_bearer_token(self, token, request, *args, **kwargs) -> None:
        scopes = utils.scope_to_list(token.get("scope", ""))
        # Refresh tokens outlive the session, so they need the member's explicit consent.
        if "offline_access" not in scopes:
            token.pop("refresh_token", None)
        # DOT's own attribute, set by validate_refresh_token, and read by DOT with getattr: without
        # this, a client's `refresh_token_instance` parameter would become the new access token's
        # source_refresh_token (see LatchRequestState for why).
        spent = vars(request).get("refresh_token_instance")
        if not isinstance(spent, RefreshToken):
            spent = request.refresh_token_instance = None
        if request.grant_type == "refresh_token" and spent is not None:
            self._rotate_out(spent, request)
        state = request_state(request)
        # DOT stores a refresh token after the access token, pointing at its key; without one,
        # the access token is the last row of the grant and waits for its audit row.
        state.access_token_waits = "refresh_token" not in token
        super()._save_bearer_token(token, request, *args, **kwargs)
        dpop_binding.mark_token_type(token)
        claims = state.access_token_claims
        token["created_at"] = claims["iat"] if claims is not None else int(time.time())
        if request.user is not None:
            key, summary = token_owner_summary(request.user, scopes)
            token[key] = summary
        issued = audit.event_row(
            AuditEvent.Event.TOKEN_ISSUED,
            request=as_http_request(request),
            user=request.user,
            client_id=request.client.client_id,
            grant_type=request.grant_type,
            scope=token.get("scope", ""),
            with_refresh="refresh_token" in token,
            **({"dpop_jkt": jkt} if (jkt := dpop_binding.access_token_jkt()) else {}),
        )
        access_token, state.unsaved_access_token = state.unsaved_access_token, None
        if access_token is None:
            audit.log(issued, saved=audit.write(issued))
        else:
            # One statement, atomic without a transaction (client_credentials opens none): the
            # token is never stored without its audit row, nor the row without the token.
            lookups.new_access_token_and_event.save(access_token, issued)
            audit.log(issued)

    def _rotate_out(self, spent: RefreshToken, request) -> None:
        """Revoke the refresh token being spent and delete its access token (RFC 9700 §4.14.2).

        What DOT's rotation does through `RefreshToken.revoke()`, which re-locks and re-reads the
        row validate_refresh_token has locked and read, deletes the access token through Django's
        collector and rewrites every column: eight statements where these are two. DOT then
        issues the new pair as for a first grant (no spent token left on the request); the new
        access token still records the refresh token it came from (_create_access_token).
        """
        # The spent token's RFC 8707 resources carry over; DOT reads them from the request.
        self._check_and_set_request_resource(request)
        now = timezone.now()
        RefreshToken.objects.filter(pk=spent.pk).update(revoked=now, updated=now, access_token=None)
        if spent.access_token_id is not None:
            # Its only reference, the refresh token's, was cleared just above: no collector needed.
            AccessToken.objects.filter(pk=spent.access_token_id)._raw_delete(  # type: ignore[attr-defined]
                router.db_for_write(AccessToken)
            )
        request.refresh_token_instance = None
        request_state(request).spent_refresh_token = spent

    def _create_access_token(self, expires, request, token, source_refresh_token=None) -> AccessToken:
        """DOT's constructor, plus the token family (DOT records it on refresh tokens only).

        A JWT access token's row expires at the JWT's `exp` (DOT counts `expires_in` again from
        now, a moment later) and records its `jti`; its first characters are the same for every
        JWT, so the prefix shown in the admin is left empty and the jti shown instead.
        """
        state = request_state(request)
        claims = state.access_token_claims
        prefix = token["access_token"][:TOKEN_PREFIX_LENGTH]
        jti = ""
        if claims is not None:
            expires = datetime.fromtimestamp(claims["exp"], tz=UTC)
            prefix, jti = "", claims["jti"]
        access_token = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            id_token=state.id_token if token.get("id_token") else None,
            application=request.client,
            source_refresh_token=source_refresh_token or state.spent_refresh_token,
            resource=getattr(request, "resource", []),
            token_family=state.token_family,
            token_prefix=prefix,
            jti=jti,
            jkt=dpop_binding.access_token_jkt(),
            actor=state.actor,
            issued_by_exchange=request.grant_type == TOKEN_EXCHANGE_GRANT_TYPE,
        )
        self._set_token_value(access_token, token["access_token"])
        if state.access_token_waits:
            state.unsaved_access_token = access_token  # saved with its audit row
        else:
            lookups.new_access_token.save(access_token)
        issued_access_token.set(access_token)
        return access_token

    def _save_id_token(self, jti, request, expires, *args, **kwargs):
        """The row DOT stores for an id_token, written with a compiled INSERT and kept for the
        access token: DOT would reload it by verifying the id_token it has just signed, and
        finding its application by audience and the row by jti."""
        id_token = IDToken(
            user=request.user,
            scope=request.scope or " ".join(request.scopes),
            expires=expires,
            jti=jti,
            application=request.client,
        )
        lookups.new_id_token.save(id_token)
        request_state(request).id_token = id_token
        return id_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        """DOT's constructor, with the family taken from the authorization code when there is one,
        and the chain's scope: the code's, or the spent token's (validate_code, get_original_scopes),
        whatever the new access token was narrowed to (RFC 6749 §6)."""
        state = request_state(request)
        if previous_refresh_token is not None:
            token_family = previous_refresh_token.token_family
        else:
            token_family = state.token_family or uuid.uuid4()
        refresh_token = RefreshToken(
            user=request.user,
            application=request.client,
            access_token=access_token,
            token_family=token_family,
            resource=getattr(request, "resource", []),
            token_prefix=refresh_token_code[:TOKEN_PREFIX_LENGTH],
            scope=state.chain_scope or access_token.scope,
            jkt=dpop_binding.refresh_token_jkt(request.client),
        )
        # A rotation keeps the original sign-in; validate_code / validate_refresh_token set it.
        state.sign_in.store_on(refresh_token)
        self._set_token_value(refresh_token, refresh_token_code)
        lookups.new_refresh_token.save(refresh_token)
        return refresh_token

    # --- Revocation (RFC 7009) ------------------------------------------------------------------

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs) -> None:
        """DOT's, and then the tokens other apps got by exchanging a token of this chain (RFC 8693):
        an app that revokes a member's token ends the access it passed on, not only its own."""
        family = self._family_of_own_token(token, request)
        # One transaction: the lock below needs one (a request runs in autocommit), and the
        # exchanged tokens go with the revoked one or not at all.
        with transaction.atomic(using=router.db_for_write(AccessToken)):
            super().revoke_token(token, token_type_hint, request, *args, **kwargs)
            if family is not None:
                exchanged = AccessToken.objects.filter(token_family=family, issued_by_exchange=True)
                # Locked first, as in RefreshToken.revoke_family: an exchange in flight commits first.
                list(exchanged.select_for_update().values_list("pk", flat=True))
                exchanged.delete()

    @staticmethod
    def _family_of_own_token(token, request) -> uuid.UUID | None:
        """The family of the client's own access or live refresh token with this value, unless it
        was itself issued by exchange (then only that token goes)."""
        client_pk = getattr(request.client, "pk", None)
        if client_pk is None or not isinstance(token, str):
            return None
        checksum = token_checksum(token)
        family = (
            AccessToken.objects.filter(
                token_checksum=checksum, application_id=client_pk, issued_by_exchange=False
            )
            .values_list("token_family", flat=True)
            .first()
        )
        if family is None:
            family = (
                RefreshToken.objects.filter(
                    token_checksum=checksum, application_id=client_pk, revoked__isnull=True
                )
                .values_list("token_family", flat=True)
                .first()
            )
        return family

    # --- Using tokens ---------------------------------------------------------------------------

    def _load_access_token(self, token):
        return lookups.access_token_by_checksum.first(token_checksum(token))

    def validate_bearer_token(self, token, scopes, request) -> bool:
        """DOT's resource path, with Latch's rules. Latch's API and UserInfo check tokens with
        apps/oauth/bearer.py instead (the same decisions, proven by tests/api/
        test_bearer_differential.py, which runs this path as its reference); this one stays for
        DOT's own views."""
        valid = super().validate_bearer_token(token, scopes, request)
        # A deactivated member's tokens stop working at once, not when they expire.
        if valid and request.user is not None and not request.user.is_active:
            return False
        if valid and (refusal := dpop_resource.sender_refusal(request, token)):
            # DOT's DRF authentication copies this to the Django request, for the challenge.
            request.oauth2_error = {"error": refusal.error, "error_description": refusal.description}
            return False
        return valid

    def validate_jwt_bearer_token(self, token, scopes, request) -> bool:
        """An access token that looks like a JWT is checked like any other access token.

        oauthlib's OIDC resource endpoint routes every bearer value shaped like a JWT (starts with
        "ey", two dots: JWTToken.estimate_type outbids BearerToken's) here, and DOT's answer is
        validate_id_token: a signed id_token would pass as an access token, with no revocation, no
        DPoP binding and no deactivated-member check. Latch's JWT access tokens are access tokens,
        found by their digest; an id_token is not one and is refused.
        """
        return self.validate_bearer_token(token, scopes, request)

    def _get_key_for_token(self, token):
        """Every published key, not only the signing one: an id_token_hint signed before a key
        rotation must verify for as long as its key is in the JWKS (DOT uses the signing key only)."""
        if super()._get_key_for_token(token) is None:  # no known client in `aud`
            return None
        return keys.verification_keys(
            oauth2_settings.OIDC_RSA_PRIVATE_KEY, oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE
        )

    # --- OpenID Connect claims --------------------------------------------------------------------

    def get_id_token_dictionary(self, token, token_handler, request):
        """DOT's id_token claims plus `acr` and `amr` of the sign-in that started the token chain.

        Only in the id_token: they describe an authentication event (OIDC Core §2), which
        UserInfo, a description of the member, does not repeat.
        """
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        claims.update(request_state(request).sign_in.claims())
        return claims, expiration_time

    def get_additional_claims(self):
        """Claims by scope (DOT filters them through `oidc_claim_scope`); `sub` is the public id."""
        return {
            "sub": lambda request: str(request.user.public_id),
            "name": lambda request: f"{request.user.first_name} {request.user.last_name}".strip(),
            "given_name": lambda request: request.user.first_name,
            "family_name": lambda request: request.user.last_name,
            "updated_at": lambda request: int(request.user.updated_at.timestamp()),
            "email": lambda request: request.user.email,
            "email_verified": lambda request: request.user.email_verified,
        }
