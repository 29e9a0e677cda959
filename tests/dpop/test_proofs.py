"""RFC 9449 §4.3: every check of a DPoP proof, each failing on its own."""

import json
import time

import pytest
from django.test import RequestFactory
from joserfc import jwk

from apps.dpop import replay
from apps.dpop.proofs import (
    SUPPORTED_ALGORITHMS,
    DPoPNonceRequired,
    DPoPProof,
    InvalidDPoPProof,
    normalise_htu,
    proof_header,
    verify_proof,
)
from tests.dpop.proofs import TOKEN_URL, ProofKey, ath_of, b64url, unsigned

WINDOW = 60


@pytest.fixture(autouse=True)
def dpop_settings(settings):
    settings.LATCH_DPOP_PROOF_SECONDS = WINDOW
    settings.LATCH_DPOP_REQUIRE_NONCE = False
    return settings


@pytest.fixture(scope="module")
def key() -> ProofKey:
    return ProofKey("ES256")


def verify(proof: str, **kwargs) -> DPoPProof:
    return verify_proof(proof, **{"method": "POST", "url": TOKEN_URL, **kwargs})


def refused(proof: str, match: str | None, **kwargs) -> None:
    with pytest.raises(InvalidDPoPProof, match=match) as caught:
        verify(proof, **kwargs)
    assert type(caught.value) is InvalidDPoPProof
    assert caught.value.error == "invalid_dpop_proof"


# --- A good proof -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", SUPPORTED_ALGORITHMS)
def test_a_proof_of_each_supported_algorithm_gives_its_key_thumbprint_and_jti(alg):
    key = ProofKey(alg)
    proof = key.proof(jti="the-jti")
    assert verify(proof) == DPoPProof(jkt=key.jkt, jti="the-jti")


def test_the_thumbprint_is_rfc_7638s_for_its_example_key():
    # RFC 7638 §3.1: this key's SHA-256 thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
    from jwcrypto.jwk import JWK

    example = JWK(
        kty="RSA",
        e="AQAB",
        n=(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
            "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvz"
            "qY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
            "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
    )
    assert example.thumbprint() == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_proof_sent_with_an_access_token_passes_with_its_ath(key):
    proof = key.proof(access_token="the-token")
    assert verify(proof, access_token="the-token").jkt == key.jkt


def test_without_an_access_token_ath_is_not_checked(key):
    proof = key.sign({**key.claims(), "ath": ath_of("some-other-token")})
    assert verify(proof).jkt == key.jkt


def test_extra_header_parameters_and_claims_are_ignored(key):
    proof = key.sign({**key.claims(), "extra": 1}, kid="my-key")
    assert verify(proof).jkt == key.jkt


# --- The JWS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("garbage", "match"),
    [
        ("", "not a JWT"),
        ("garbage", "not a JWT"),
        ("a.b.c", "not a JWT"),
        ("a.b", "not a JWT"),
        ("a.b.c.d.e", "not a JWT"),
        ("!!!.???.***", "not a JWT"),
        ("e30.e30.e30", "typ"),  # {} as header and payload
        (b64url("not json") + ".e30.AAAA", "not a JWT"),
        (b64url(b"\xff\xfe") + ".e30.AAAA", "not a JWT"),
        (b64url("[1,2]") + ".e30.AAAA", "not a JWT"),
        ('{"payload": "e30", "protected": "e30", "signature": "AAAA"}', "not a JWT"),  # JSON serialisation
        ("A" * 5000 + ".e30.AAAA", "not a JWT"),
    ],
)
def test_garbage_is_refused(garbage, match):
    refused(garbage, match)


def test_a_proof_with_the_wrong_typ_is_refused(key):
    refused(key.sign(key.claims(), typ="JWT"), "typ")


def test_a_proof_without_typ_is_refused(key):
    refused(key.sign(key.claims(), typ=None), "typ")


def test_a_symmetric_algorithm_is_refused():
    key = ProofKey("HS256")
    refused(key.sign(key.claims(), jwk={"kty": "oct", "k": "c2VjcmV0"}), "alg")


def test_alg_none_is_refused(key):
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk}
    refused(unsigned(header, key.claims()), "alg")


def test_an_unsupported_asymmetric_algorithm_is_refused(key):
    header = {"typ": "dpop+jwt", "alg": "ES512", "jwk": key.public_jwk}
    refused(unsigned(header, key.claims(), b"x" * 132), "alg")


def test_a_proof_without_jwk_is_refused(key):
    refused(key.sign(key.claims(), jwk=None), "no jwk")


def test_a_jwk_that_is_not_an_object_is_refused(key):
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": "a key"}
    refused(unsigned(header, key.claims(), b"x" * 64), "no jwk")


def test_a_private_key_in_the_jwk_header_is_refused(key):
    private = dict(key.key.as_dict(private=True))
    assert "d" in private
    refused(key.sign(key.claims(), jwk=private), "private key material")


def test_a_symmetric_key_in_the_jwk_header_is_refused(key):
    refused(key.sign(key.claims(), jwk={"kty": "oct", "k": "c2VjcmV0"}), "private key material")


def test_a_jwk_that_is_no_key_is_refused(key):
    refused(key.sign(key.claims(), jwk={"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}), "valid")


@pytest.mark.filterwarnings("ignore:Key size should be")
def test_an_rsa_key_shorter_than_2048_bits_is_refused():
    weak = ProofKey("RS256")
    weak.key = jwk.generate_key("RSA", 1024)
    refused(weak.proof(), "2048")


def test_a_proof_signed_by_another_key_than_its_jwk_is_refused(key):
    other = ProofKey("ES256")
    refused(other.sign(other.claims(), jwk=key.public_jwk), "signature")


def test_a_proof_whose_payload_was_changed_after_signing_is_refused(key):
    header, _payload, signature = key.proof().split(".")
    changed = b64url(json.dumps(key.claims(url="http://testserver/other")))
    refused(f"{header}.{changed}.{signature}", "signature")


def test_a_payload_that_is_not_a_json_object_is_refused(key):
    refused(key.sign([1, 2]), "JSON object")  # type: ignore[arg-type]


# --- Claims -------------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
def test_a_proof_missing_a_required_claim_is_refused(key, claim):
    claims = key.claims()
    del claims[claim]
    refused(key.sign(claims), f"no {claim}")


@pytest.mark.parametrize("claim", ["jti", "htm", "htu"])
def test_a_required_claim_that_is_not_a_string_is_refused(key, claim):
    refused(key.sign({**key.claims(), claim: 12}), f"no {claim}")


@pytest.mark.parametrize("iat", ["now", None, True, [1]])
def test_an_iat_that_is_not_a_number_is_refused(key, iat):
    refused(key.sign({**key.claims(), "iat": iat}), "no iat")


def test_a_very_long_jti_is_refused(key):
    refused(key.proof(jti="j" * 257), "jti")


@pytest.mark.parametrize("method", ["GET", "post", "PUT"])
def test_a_proof_for_another_method_is_refused(key, method):
    refused(key.proof(method=method), "htm")


@pytest.mark.parametrize(
    "htu",
    [
        "http://testserver/oauth/revoke",
        "https://testserver/oauth/token",
        "http://evil.example/oauth/token",
        "http://testserver:8000/oauth/token",
        "http://user@testserver/oauth/token",
        "http://testserver/oauth/token/",
        "/oauth/token",
        "not a url",
        "http://testserver:99999/oauth/token",
    ],
)
def test_a_proof_for_another_url_is_refused(key, htu):
    refused(key.proof(url=htu), "htu")


@pytest.mark.parametrize(
    "htu",
    [
        "HTTP://TestServer/oauth/token",
        "http://testserver:80/oauth/token",
        "http://testserver/oauth/%74oken",
        "http://testserver/oauth/./token",
        "http://testserver/other/../oauth/token",
        "http://testserver/oauth/token?ignored=1",
        "http://testserver/oauth/token#ignored",
    ],
)
def test_htu_is_compared_after_normalisation(key, htu):
    assert verify(key.proof(url=htu)).jkt == key.jkt


def test_the_request_urls_query_is_not_part_of_htu(key):
    assert verify(key.proof(), url=f"{TOKEN_URL}?a=b").jkt == key.jkt


def test_normalisation_keeps_what_differs():
    assert normalise_htu("https://Latch.example:443/a%2fb") == "https://latch.example/a%2Fb"
    assert normalise_htu("https://[::1]:8443/") == "https://[::1]:8443/"
    assert normalise_htu("https://latch.example") == "https://latch.example/"


@pytest.mark.parametrize("offset", [-WINDOW, WINDOW])
def test_an_iat_within_the_window_on_either_side_is_accepted(key, offset):
    assert verify(key.proof(iat=time.time() + offset)).jkt == key.jkt


def test_a_stale_iat_is_refused(key):
    refused(key.proof(iat=time.time() - WINDOW - replay.CLOCK_SKEW_LEEWAY_SECONDS - 2), "iat")


def test_an_iat_in_the_future_is_refused(key):
    refused(key.proof(iat=time.time() + WINDOW + replay.CLOCK_SKEW_LEEWAY_SECONDS + 2), "iat")


def test_the_window_follows_the_setting(key, dpop_settings):
    dpop_settings.LATCH_DPOP_PROOF_SECONDS = 10
    refused(key.proof(iat=time.time() - 30), "iat")


def test_a_proof_with_the_wrong_ath_is_refused(key):
    refused(key.proof(access_token="another-token"), "ath", access_token="the-token")


def test_a_proof_without_ath_sent_with_an_access_token_is_refused(key):
    refused(key.proof(), "no ath", access_token="the-token")


@pytest.mark.parametrize("ath", [12, "", "é"])
def test_an_ath_that_is_no_digest_is_refused(key, ath):
    refused(key.sign({**key.claims(), "ath": ath}), "ath", access_token="the-token")


# --- Replay -------------------------------------------------------------------------------------


def test_a_replayed_proof_is_refused(key):
    proof = key.proof()
    verify(proof)
    refused(proof, "used before")


def test_a_new_proof_with_a_used_jti_is_refused(key):
    verify(key.proof(jti="once"))
    refused(key.proof(jti="once"), "used before")


def test_another_keys_jti_does_not_count_as_a_replay(key):
    verify(key.proof(jti="shared"))
    other = ProofKey("ES256")
    assert verify(other.proof(jti="shared")).jkt == other.jkt


def test_a_refused_proof_does_not_use_up_its_jti(key):
    refused(key.proof(method="GET", jti="retry"), "htm")
    assert verify(key.proof(jti="retry")).jti == "retry"


# --- Nonces -------------------------------------------------------------------------------------


@pytest.fixture
def nonce_required(dpop_settings):
    dpop_settings.LATCH_DPOP_REQUIRE_NONCE = True
    dpop_settings.LATCH_DPOP_NONCE_SECONDS = 300


def nonce_at(monkeypatch, when: float) -> str:
    from apps.dpop.nonces import current_nonce

    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: when)
        return current_nonce()


def test_a_proof_without_a_nonce_asks_for_one(key, nonce_required):
    with pytest.raises(DPoPNonceRequired, match="nonce is required") as caught:
        verify(key.proof(nonce=None))
    assert caught.value.error == "use_dpop_nonce"


def test_a_proof_with_the_current_nonce_passes(key, nonce_required):
    assert verify(key.proof()).jkt == key.jkt


def test_a_proof_with_the_previous_windows_nonce_passes(key, nonce_required, monkeypatch):
    nonce = nonce_at(monkeypatch, time.time() - 300)
    assert verify(key.proof(nonce=nonce)).jkt == key.jkt


def test_a_proof_with_a_stale_nonce_asks_for_the_current_one(key, nonce_required, monkeypatch):
    nonce = nonce_at(monkeypatch, time.time() - 600)
    with pytest.raises(DPoPNonceRequired, match="not the current one"):
        verify(key.proof(nonce=nonce))


@pytest.mark.parametrize("nonce", ["made-up", 12, ""])
def test_a_proof_with_a_made_up_nonce_asks_for_the_current_one(key, nonce_required, nonce):
    with pytest.raises(DPoPNonceRequired):
        verify(key.proof(nonce=nonce))


def test_a_proof_refused_for_its_nonce_does_not_use_up_its_jti(key, nonce_required):
    with pytest.raises(DPoPNonceRequired):
        verify(key.proof(nonce=None, jti="nonce-retry"))
    assert verify(key.proof(jti="nonce-retry")).jti == "nonce-retry"


def test_without_the_setting_no_nonce_is_needed(key):
    assert verify(key.proof(nonce=None)).jkt == key.jkt


# --- The DPoP header ----------------------------------------------------------------------------


def test_no_dpop_header_is_none():
    assert proof_header(RequestFactory().post("/oauth/token")) is None


def test_the_dpop_header_is_its_value(key):
    proof = key.proof()
    assert proof_header(RequestFactory().post("/oauth/token", HTTP_DPOP=proof)) == proof


def test_two_dpop_headers_are_refused(key):
    # WSGI servers join a repeated header with commas, as wsgiref and gunicorn do.
    joined = f"{key.proof()},{key.proof()}"
    with pytest.raises(InvalidDPoPProof, match="More than one DPoP header"):
        proof_header(RequestFactory().post("/oauth/token", HTTP_DPOP=joined))
