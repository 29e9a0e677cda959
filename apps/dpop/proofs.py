"""DPoP proofs (RFC 9449 §4): parsing and checking the JWT a client signs for each request.

A proof shows that whoever sends the request holds the private key of the public JWK in the
proof's header; its thumbprint (RFC 7638) is what a DPoP-bound token is bound to. The JWS itself
is verified by jwcrypto: no signature code here, only the RFC's checks around it (§4.3).
"""

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from apps.dpop import replay
from apps.dpop.nonces import nonce_is_current

# Asymmetric algorithms only (§4.2): a shared secret proves nothing about who sent the request.
SUPPORTED_ALGORITHMS: tuple[str, ...] = ("ES256", "RS256", "PS256", "EdDSA")

PROOF_TYPE = "dpop+jwt"
# A compact JWS, and nothing else (jwcrypto would also read its JSON serialisations). An empty
# signature gets as far as the alg check, to be refused there for what it is (alg "none").
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Far above any honest proof (an RSA-4096 key in the header is about 1.2 kB), far below a costly one.
MAX_PROOF_LENGTH = 4096
# RFC 7518 §6.3.2 / §6.2.2 / RFC 8037 §2: the members only a private (or symmetric) JWK has.
PRIVATE_KEY_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# RSA keys weaker than 2048 bits are refused (RFC 7518 §3.3); larger than 4096 cost much to verify.
RSA_KEY_BITS = (2048, 4096)
MAX_JTI_LENGTH = 256
# RFC 3986 §2.3: characters that mean the same whether percent-encoded or not.
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class DPoPProof:
    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof's public JWK, base64url, no padding
    jti: str


class InvalidDPoPProof(Exception):
    """error=invalid_dpop_proof (RFC 9449 §5, §7.1); .description says what is wrong."""

    error = "invalid_dpop_proof"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class DPoPNonceRequired(InvalidDPoPProof):
    """error=use_dpop_nonce (RFC 9449 §8, §9): the proof has no nonce, or not the current one.

    Answer it with a DPoP-Nonce header carrying apps.dpop.nonces.current_nonce().
    """

    error = "use_dpop_nonce"


def proof_header(request: HttpRequest) -> str | None:
    """The request's one DPoP header value; None when absent; InvalidDPoPProof when sent twice.

    WSGI servers (gunicorn, wsgiref) join a repeated header into one value with commas (PEP 3333,
    RFC 9110 §5.3); a compact JWS never contains a comma, so a comma means two headers (§4.3: "not
    more than one DPoP HTTP request header field").
    """
    value = request.META.get("HTTP_DPOP")
    if value is None:
        return None
    if "," in value:
        raise InvalidDPoPProof("More than one DPoP header was sent.")
    return value.strip()


def base64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _normalise_percent_encoding(part: str) -> str:
    """RFC 3986 §6.2.2.1-2: escapes in upper case, and unreserved characters never escaped."""

    def normalised(escape: re.Match[str]) -> str:
        character = chr(int(escape.group(1), 16))
        return character if character in _UNRESERVED else escape.group(0).upper()

    return _PERCENT_ESCAPE.sub(normalised, part)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 (§6.2.2.3), for an absolute path."""
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    trailing = "/" if path.endswith(("/.", "/..")) else ""
    return "/" + "/".join(output) + trailing


def normalise_htu(url: str) -> str:
    """`url` as RFC 9449 §4.3 compares it: scheme, authority and path, without query or fragment,
    after RFC 3986 §6.2.2 syntax-based and §6.2.3 scheme-based normalisation.

    ValueError when it is not an absolute http(s) URL.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("not an absolute http(s) URL")
    port = parts.port  # ValueError for a port that is not a number in range
    host = parts.hostname  # lower-cased
    if ":" in host:
        host = f"[{host}]"
    authority = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if "@" in parts.netloc:
        # A URL that names a user is not the request's URL, whatever its host.
        authority = f"{parts.netloc.rsplit('@', 1)[0]}@{authority}"
    path = _remove_dot_segments(_normalise_percent_encoding(parts.path or "/"))
    return f"{scheme}://{authority}{path}"


def _decode_proof(proof: str) -> tuple[dict[str, Any], jws.JWS]:
    """The protected header and the parsed JWS; InvalidDPoPProof for anything not a compact JWS."""
    if len(proof) > MAX_PROOF_LENGTH or not _COMPACT_JWS.fullmatch(proof):
        raise InvalidDPoPProof("The DPoP proof is not a JWT.")
    token = jws.JWS()
    try:
        token.deserialize(proof)
        header = token.jose_header
    except (JWException, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidDPoPProof("The DPoP proof is not a JWT.") from exc
    if not isinstance(header, dict):
        raise InvalidDPoPProof("The DPoP proof is not a JWT.")
    return header, token


def _public_key(header: dict[str, Any]) -> jwk.JWK:
    """The header's `jwk`, when it is a public key of a usable size (§4.2, §4.3 points 6-7)."""
    members = header.get("jwk")
    if not isinstance(members, dict):
        raise InvalidDPoPProof("The DPoP proof's header has no jwk.")
    if PRIVATE_KEY_MEMBERS & set(members):
        raise InvalidDPoPProof("The DPoP proof's jwk must be a public key; it holds private key material.")
    try:
        key = jwk.JWK(**members)
        public_key = key.get_op_key("verify")  # a point off its curve fails here
    except (JWException, ValueError, TypeError) as exc:
        raise InvalidDPoPProof("The DPoP proof's jwk is not a valid public key.") from exc
    if key.get("kty") == "RSA":
        bits = public_key.key_size
        if not RSA_KEY_BITS[0] <= bits <= RSA_KEY_BITS[1]:
            raise InvalidDPoPProof(
                f"The DPoP proof's RSA key must have {RSA_KEY_BITS[0]} to {RSA_KEY_BITS[1]} bits."
            )
    return key


def _verified_claims(token: jws.JWS, key: jwk.JWK, alg: str) -> dict[str, Any]:
    token.allowed_algs = [alg]
    try:
        token.verify(key, alg=alg)
        claims = json.loads(token.payload)
    except (JWException, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidDPoPProof("The DPoP proof's signature does not verify with its jwk.") from exc
    if not isinstance(claims, dict):
        raise InvalidDPoPProof("The DPoP proof's payload is not a JSON object.")
    return claims


def _string_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidDPoPProof(f"The DPoP proof has no {name} claim.")
    return value


def _check_htu(htu: str, url: str) -> None:
    try:
        matches = normalise_htu(htu) == normalise_htu(url)
    except ValueError:
        matches = False
    if not matches:
        raise InvalidDPoPProof("The DPoP proof's htu is not this request's URL.")


def _check_iat(claims: dict[str, Any]) -> None:
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise InvalidDPoPProof("The DPoP proof has no iat claim.")
    if abs(time.time() - iat) > replay.acceptance_seconds():
        raise InvalidDPoPProof(
            f"The DPoP proof's iat is more than {settings.LATCH_DPOP_PROOF_SECONDS} seconds from now."
        )


def verify_proof(proof: str, *, method: str, url: str, access_token: str | None = None) -> DPoPProof:
    """RFC 9449 §4.3's checks of `proof` for a request of `method` to `url`, in this order.

    A JWS whose `typ` is "dpop+jwt", `alg` in SUPPORTED_ALGORITHMS, a public `jwk` header that
    verifies the signature, `htm` == method, `htu` == url (scheme, host and path, compared after
    normalisation), `iat` within settings.LATCH_DPOP_PROOF_SECONDS of now on either side (plus a
    small leeway), `ath` == base64url(SHA-256(access_token)) when `access_token` is given, the
    nonce when settings.LATCH_DPOP_REQUIRE_NONCE (DPoPNonceRequired), and last the `jti` not seen
    before. The jti is recorded only when every other check passed: a proof refused for any other
    reason uses up nothing, so a garbage or stale proof cannot fill the replay cache under a
    client's key.
    """
    header, token = _decode_proof(proof)
    if header.get("typ") != PROOF_TYPE:
        raise InvalidDPoPProof(f'The DPoP proof\'s typ must be "{PROOF_TYPE}".')
    alg = header.get("alg")
    if alg not in SUPPORTED_ALGORITHMS:
        raise InvalidDPoPProof(f"The DPoP proof's alg must be one of {', '.join(SUPPORTED_ALGORITHMS)}.")
    key = _public_key(header)
    claims = _verified_claims(token, key, alg)
    jti = _string_claim(claims, "jti")
    if len(jti) > MAX_JTI_LENGTH:
        raise InvalidDPoPProof(f"The DPoP proof's jti is longer than {MAX_JTI_LENGTH} characters.")
    if _string_claim(claims, "htm") != method:
        raise InvalidDPoPProof("The DPoP proof's htm is not this request's method.")
    _check_htu(_string_claim(claims, "htu"), url)
    _check_iat(claims)
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not ath:
            raise InvalidDPoPProof("The DPoP proof has no ath claim for the access token it is sent with.")
        if not hmac.compare_digest(ath.encode(), base64url_sha256(access_token).encode()):
            raise InvalidDPoPProof("The DPoP proof's ath does not match the access token.")
    if settings.LATCH_DPOP_REQUIRE_NONCE:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise DPoPNonceRequired("A DPoP nonce is required: sign the proof with the one in DPoP-Nonce.")
        if not nonce_is_current(nonce):
            raise DPoPNonceRequired(
                "The DPoP proof's nonce is not the current one: use the one in DPoP-Nonce."
            )
    jkt = key.thumbprint()
    if not replay.first_use(jkt, jti):
        raise InvalidDPoPProof("This DPoP proof was used before; sign a new one for each request.")
    return DPoPProof(jkt=jkt, jti=jti)
