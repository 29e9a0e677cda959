"""DPoP at the authorization server (RFC 9449 §5, §10): which key a token request binds its tokens to.

TokenView checks the request's proof before oauthlib sees the request (apps/dpop/proofs.py) and
runs the token request inside `bound_to(proof)`; the validator asks this module, in the calls
oauthlib makes, what that means for each grant:

- every access token issued with a proof is bound to its key (`AccessToken.jkt`, `token_type`
  "DPoP"), whatever the grant, the device grant included: they all go through save_bearer_token;
- a public client's refresh token is bound too (§5: it has no other sender constraint); a
  confidential client's is not, because the client authenticates to use it;
- a bound refresh token, and a code whose authorization request named `dpop_jkt` (§10), can be
  spent only with a proof by that key: `invalid_grant` otherwise;
- an application marked `require_dpop` gets no token without a proof.

The proof travels in a context variable rather than on oauthlib's request: DOT's only way to
hand oauthlib more (its "extra credentials") is merged into the token response's JSON.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest
from oauthlib.oauth2.rfc6749 import errors

from apps.dpop.proofs import DPoPProof, InvalidDPoPProof, proof_header, verify_proof
from apps.oauth.models import Application

# RFC 9449 §10: a base64url SHA-256 thumbprint, 43 characters without padding.
JKT_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
# The credential AuthorizeView passes with an approved request, read in save_authorization_code.
REQUESTED_JKT_CREDENTIAL = "latch_dpop_jkt"

_token_request_proof: ContextVar[DPoPProof | None] = ContextVar("token_request_proof", default=None)


# --- A request's proof ---------------------------------------------------------------------------


def request_proof(request: HttpRequest) -> DPoPProof | None:
    """The verified proof of a request to the token or PAR endpoint, None without one;
    InvalidDPoPProof for a bad one.

    `htu` is compared with the URL the request was received at (§4.3 point 9), as Django builds it
    from the Host header (checked against ALLOWED_HOSTS) and the scheme (SECURE_PROXY_SSL_HEADER
    behind a TLS proxy).
    """
    proof = proof_header(request)
    if proof is None:
        return None
    return verify_proof(proof, method=request.method or "", url=request.build_absolute_uri(request.path))


@contextmanager
def bound_to(proof: DPoPProof | None) -> Iterator[None]:
    """Issue the tokens of the token request run inside this block bound to `proof`'s key."""
    reset = _token_request_proof.set(proof)
    try:
        yield
    finally:
        _token_request_proof.reset(reset)


# --- What the validator asks --------------------------------------------------------------------


def access_token_jkt() -> str:
    """The thumbprint a new access token is bound to; empty for a bearer token."""
    proof = _token_request_proof.get()
    return proof.jkt if proof else ""


def refresh_token_jkt(client: Application) -> str:
    """The thumbprint a new refresh token is bound to: a public client's proof key only (§5)."""
    if client.client_type != Application.CLIENT_PUBLIC:
        return ""
    return access_token_jkt()


def mark_token_type(token: dict) -> None:
    """§5: a bound access token's `token_type` is "DPoP" in the token response."""
    if _token_request_proof.get() is not None:
        token["token_type"] = "DPoP"


def check_client_sent_proof(client: Application, request) -> None:
    """An application marked `require_dpop` (§5.2 `dpop_bound_access_tokens`) gets no token
    without a proof. §5.2 names no error; `invalid_dpop_proof` says where the fault is, so a DPoP
    client library knows that adding a proof is the fix."""
    if client.require_dpop and _token_request_proof.get() is None:
        raise errors.CustomOAuth2Error(
            error=InvalidDPoPProof.error,
            description="This application must send a DPoP proof with every token request.",
            request=request,
        )


def check_proof_key(bound_jkt: str, what: str, request) -> None:
    """`invalid_grant` unless the proof's key is the one `what` is bound to (when it is bound)."""
    if not bound_jkt:
        return
    proof = _token_request_proof.get()
    if proof is None:
        raise errors.InvalidGrantError(
            description=f"This {what} is bound to a DPoP key: send a DPoP proof signed by it.",
            request=request,
        )
    if proof.jkt != bound_jkt:
        raise errors.InvalidGrantError(
            description=f"This {what} is bound to another DPoP key than the proof's.", request=request
        )


# --- dpop_jkt at the authorization endpoint (§10) -----------------------------------------------


def validate_dpop_jkt(request) -> dict[str, str]:
    """oauthlib post_auth validator: a well-formed `dpop_jkt` goes into the validated request's
    credentials; a malformed one is `invalid_request`, redirected to the app like any other error
    found once the redirect URI is known."""
    dpop_jkt = getattr(request, "dpop_jkt", None)  # the client's parameter, when it sent one
    if dpop_jkt is None:
        return {}
    if not isinstance(dpop_jkt, str) or not JKT_PATTERN.fullmatch(dpop_jkt):
        raise errors.InvalidRequestError(
            description="dpop_jkt must be the base64url SHA-256 JWK thumbprint (RFC 7638) of a key.",
            request=request,
        )
    return {"dpop_jkt": dpop_jkt}


def requested_jkt(request) -> str:
    """The `dpop_jkt` AuthorizeView passed with the approved request ("" when there was none).

    Read from the request's own attributes, where oauthlib puts credentials, and never through
    oauthlib's fallback to client parameters (see apps/oauth/validators.py LatchRequestState).
    """
    value = vars(request).get(REQUESTED_JKT_CREDENTIAL)
    return value if isinstance(value, str) and JKT_PATTERN.fullmatch(value) else ""
