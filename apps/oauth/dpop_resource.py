"""DPoP at Latch's protected resources (RFC 9449 §7): the API and UserInfo.

Latch's resources check tokens with apps/oauth/bearer.py: `read()` gives it the Authorization
header's presentation and the token in it; `refusal_for()` decides the sender constraint once the
token's row is found (no second lookup); `challenge()` words the 401.

DOT's resource path (oauthlib's resource endpoint, which knows only the Bearer scheme) stays usable
for DOT's own views and as the differential test's reference (tests/api/reference.py):
`present()` reads the header before oauthlib does and hands a `DPoP` token to oauthlib as if it
were `Bearer`; LatchOAuth2Validator.validate_bearer_token calls `sender_refusal`. The presentation
reaches the validator in request.META under a key no client can send (WSGI names client headers
HTTP_*), which DOT's OAuthLibCore.extract_headers copies into the oauthlib request's headers (a
DOT internal: pinned by tests/dpop/test_resource.py). Both paths store the presentation there,
and write a refusal on it, for the view's challenge.
"""

from dataclasses import dataclass

from django.http import HttpRequest

from apps.dpop.proofs import SUPPORTED_ALGORITHMS, InvalidDPoPProof, proof_header, verify_proof

PRESENTATION_KEY = "latch.dpop.presentation"
DPOP = "dpop"
BEARER = "bearer"


@dataclass(frozen=True)
class Refusal:
    error: str  # invalid_token, invalid_dpop_proof or use_dpop_nonce
    description: str


@dataclass
class Presentation:
    """How the client presented its access token, and why the token was refused, if it was."""

    scheme: str  # "dpop", "bearer", or another scheme lower-cased (oauthlib refuses those)
    url: str  # the `htu` a proof must name: the resource's URL without query or fragment
    proof: str | None = None
    refusal: Refusal | None = None

    @property
    def is_dpop(self) -> bool:
        return self.scheme == DPOP


def present(request: HttpRequest) -> Presentation | None:
    """Read the Authorization header's scheme (RFC 9110 §11.1: case-insensitive); a DPoP token is
    handed to oauthlib as a Bearer one. None when the request has no Authorization header."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    presentation = Presentation(scheme=scheme.lower(), url=request.build_absolute_uri(request.path))
    if presentation.is_dpop:
        request.META["HTTP_AUTHORIZATION"] = f"Bearer {token.strip()}"
        try:
            presentation.proof = proof_header(request)
        except InvalidDPoPProof as refused:
            presentation.refusal = Refusal(refused.error, refused.description)
    request.META[PRESENTATION_KEY] = presentation
    return presentation


def read(request: HttpRequest) -> tuple[Presentation | None, str | None]:
    """The Authorization header's presentation (stored on the request, as `present()` stores it)
    and the access token in it: the one oauthlib's `get_token_from_header` would find in the header
    `present()` leaves, so that both paths accept exactly the same values. (None, None) without an
    Authorization header; a Presentation and None for a header that holds no usable token."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        return None, None
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == DPOP:
        presentation = Presentation(scheme=scheme, url=request.build_absolute_uri(request.path))
        try:
            presentation.proof = proof_header(request)
        except InvalidDPoPProof as refused:
            presentation.refusal = Refusal(refused.error, refused.description)
        words = rest.split()
        token = words[0] if len(words) == 1 else None
    else:
        presentation = Presentation(scheme=scheme, url="")  # `url` is only read for a DPoP proof
        words = header.split()
        token = words[1] if len(words) == 2 and words[0].lower() == BEARER else None
    request.META[PRESENTATION_KEY] = presentation
    return presentation, token


def record_scheme(request: HttpRequest) -> Presentation | None:
    """Store the Authorization header's scheme alone, as `read()` stores a presentation, for the
    challenge of a request refused before its token is read (UserInfo: a token sent two ways).
    No proof is read: the refusal is not about it, and must not become one about it."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        return None
    presentation = Presentation(scheme=header.strip().partition(" ")[0].lower(), url="")
    request.META[PRESENTATION_KEY] = presentation
    return presentation


def presentation_of(request: HttpRequest) -> Presentation | None:
    return request.META.get(PRESENTATION_KEY)


def scheme_name(request: HttpRequest) -> str:
    """The scheme to name in a challenge about a token already accepted (a 403 for its scope)."""
    presentation = presentation_of(request)
    return "DPoP" if presentation is not None and presentation.is_dpop else "Bearer"


def sender_refusal(oauthlib_request, token: str) -> Refusal | None:
    """Why the valid access token on `oauthlib_request` may not be used as it was sent; None if it may.

    The oauthlib form of `refusal_for`, for LatchOAuth2Validator.validate_bearer_token (DOT's
    resource path, which Latch's own views no longer take: apps/oauth/bearer.py).
    """
    return refusal_for(
        oauthlib_request.headers.get(PRESENTATION_KEY),
        oauthlib_request.access_token,
        token,
        method=oauthlib_request.http_method,
    )


def refusal_for(
    presentation: Presentation | None, access_token, token: str, *, method: str
) -> Refusal | None:
    """Why `access_token` (the row of the valid `token`) may not be used as it was presented;
    None if it may.

    A DPoP-bound token needs the DPoP scheme and a proof by its key over this request (§7.1); a
    bound token sent as Bearer is refused (§7.2), and so is an unbound one sent as DPoP.
    """
    if presentation is None or not presentation.is_dpop:
        if not access_token.jkt:
            return None
        return _refuse(
            presentation,
            Refusal(
                "invalid_token",
                "This access token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof.",
            ),
        )
    if presentation.refusal is not None:
        return presentation.refusal
    if not access_token.jkt:
        return _refuse(
            presentation,
            Refusal(
                "invalid_token", "This access token is not DPoP-bound: send it as Authorization: Bearer."
            ),
        )
    if presentation.proof is None:
        return _refuse(
            presentation, Refusal("invalid_dpop_proof", "The DPoP scheme needs a DPoP proof header.")
        )
    try:
        proof = verify_proof(presentation.proof, method=method, url=presentation.url, access_token=token)
    except InvalidDPoPProof as refused:  # DPoPNonceRequired included: its error is use_dpop_nonce
        return _refuse(presentation, Refusal(refused.error, refused.description))
    if proof.jkt != access_token.jkt:
        return _refuse(
            presentation,
            Refusal(
                "invalid_token",
                "The DPoP proof is signed by another key than the one this token is bound to.",
            ),
        )
    return None


def _refuse(presentation: Presentation | None, refusal: Refusal) -> Refusal:
    if presentation is not None:
        presentation.refusal = refusal
    return refusal


def _params(**values: str | None) -> str:
    quoted = []
    for name, value in values.items():
        if value:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")
            quoted.append(f'{name}="{escaped}"')
    return ", ".join(quoted)


def challenge(
    request: HttpRequest,
    *,
    realm: str,
    resource_metadata: str,
    error: dict[str, str] | None = None,
) -> str:
    """The WWW-Authenticate value of a refusal: a Bearer challenge (RFC 6750 §3) and a DPoP one
    (§7.1, with `algs`), in one header (RFC 9110 §11.6.1 allows a list), each naming the resource's
    metadata (RFC 9728 §5.1). The error goes with the scheme the client used; without a token
    there is none (RFC 6750 §3.1)."""
    presentation = presentation_of(request)
    if presentation is not None and presentation.refusal is not None:
        error = {"error": presentation.refusal.error, "error_description": presentation.refusal.description}
    error = error or {}
    dpop_error = error if presentation is not None and presentation.is_dpop else {}
    bearer_error = error if presentation is not None and not presentation.is_dpop else {}
    dpop = _params(
        algs=" ".join(SUPPORTED_ALGORITHMS),
        error=dpop_error.get("error"),
        error_description=dpop_error.get("error_description"),
        resource_metadata=resource_metadata,
    )
    bearer = _params(
        realm=realm,
        error=bearer_error.get("error"),
        error_description=bearer_error.get("error_description"),
        resource_metadata=resource_metadata,
    )
    return f"Bearer {bearer}, DPoP {dpop}"
