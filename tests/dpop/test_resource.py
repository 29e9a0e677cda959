"""RFC 9449 §7 and RFC 9728 at Latch's resources: the API and UserInfo take DPoP-bound tokens with
their proof, refuse them as Bearer, and say in their challenge how to do it right."""

import time

import pytest
import requests
from django.test import Client, RequestFactory
from oauth2_provider.oauth2_backends import get_oauthlib_core

from apps.dpop.nonces import current_nonce
from apps.oauth import dpop_resource
from apps.oauth.models import AccessToken
from apps.oauth.validators import token_checksum
from tests.api.tokens import issue_token
from tests.dpop.proofs import ProofKey
from tests.dpop.test_live_server import DPoPClient
from tests.members.factories import member_with_login
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db

ME = "http://testserver/api/v1/members/me"
USERINFO = "http://testserver/oauth/userinfo"
API_METADATA = 'resource_metadata="https://testserver/.well-known/oauth-protected-resource/api/v1"'


@pytest.fixture
def key() -> ProofKey:
    return ProofKey()


@pytest.fixture
def member():
    return member_with_login().user


def bound_token(key: ProofKey, member, scope: str = "member-read openid") -> str:
    raw = issue_token(scope, user=member)
    AccessToken.objects.filter(token_checksum=token_checksum(raw)).update(jkt=key.jkt)
    return raw


def dpop_get(url: str, token: str, proof: str | None):
    headers = {"HTTP_AUTHORIZATION": f"DPoP {token}"}
    if proof is not None:
        headers["HTTP_DPOP"] = proof
    return Client().get(url, **headers)


def assert_refused(response, error: str, scheme: str = "DPoP") -> str:
    assert response.status_code == 401, response.content
    assert response.json()["error"] == error
    challenge = response["WWW-Authenticate"]
    bearer, _, dpop = challenge.partition(", DPoP ")
    refused_in = dpop if scheme == "DPoP" else bearer
    assert f'error="{error}"' in refused_in, challenge
    assert 'algs="ES256 RS256 PS256 EdDSA"' in dpop
    return challenge


# --- The API ------------------------------------------------------------------------------------


def test_a_bound_token_with_its_proof_reads_the_api(key, member):
    token = bound_token(key, member)

    response = dpop_get(ME, token, key.proof("GET", ME, access_token=token))

    assert response.status_code == 200, response.content
    assert response.json()["sub"]
    assert response["DPoP-Nonce"] == current_nonce()


def test_a_bound_token_sent_as_bearer_is_refused(key, member):
    token = bound_token(key, member)

    response = Client().get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")

    challenge = assert_refused(response, "invalid_token", scheme="Bearer")
    assert API_METADATA in challenge


def test_an_unbound_token_sent_as_dpop_is_refused(key, member):
    token = issue_token("member-read", user=member)

    response = dpop_get(ME, token, key.proof("GET", ME, access_token=token))

    assert_refused(response, "invalid_token")


def test_the_dpop_scheme_without_a_proof_is_refused(key, member):
    assert_refused(dpop_get(ME, bound_token(key, member), None), "invalid_dpop_proof")


@pytest.mark.parametrize(
    "make_proof",
    [
        pytest.param(
            lambda key, token: key.proof("GET", "http://testserver/api/v1/groups", access_token=token),
            id="htu",
        ),
        pytest.param(lambda key, token: key.proof("POST", ME, access_token=token), id="htm"),
        pytest.param(
            lambda key, token: key.proof("GET", ME, access_token=token, iat=time.time() - 600), id="iat"
        ),
        pytest.param(lambda key, token: key.proof("GET", ME, access_token="another-token"), id="ath"),
        pytest.param(lambda key, token: key.proof("GET", ME), id="no-ath"),
    ],
)
def test_a_proof_not_made_for_this_request_is_refused(key, member, make_proof):
    token = bound_token(key, member)

    assert_refused(dpop_get(ME, token, make_proof(key, token)), "invalid_dpop_proof")


def test_a_proof_by_another_key_is_refused(key, member):
    token = bound_token(key, member)

    assert_refused(dpop_get(ME, token, ProofKey().proof("GET", ME, access_token=token)), "invalid_token")


def test_a_replayed_proof_is_refused(key, member):
    token = bound_token(key, member)
    proof = key.proof("GET", ME, access_token=token)

    assert dpop_get(ME, token, proof).status_code == 200
    assert_refused(dpop_get(ME, token, proof), "invalid_dpop_proof")


def test_a_proof_without_the_nonce_is_told_the_nonce(key, member):
    token = bound_token(key, member)

    refused = dpop_get(ME, token, key.proof("GET", ME, access_token=token, nonce=None))
    retried = dpop_get(ME, token, key.proof("GET", ME, access_token=token, nonce=refused["DPoP-Nonce"]))

    assert_refused(refused, "use_dpop_nonce")
    assert refused["DPoP-Nonce"] == current_nonce()
    assert retried.status_code == 200, retried.content


def test_a_bound_token_without_the_scope_gets_a_dpop_insufficient_scope(key, member):
    token = bound_token(key, member, scope="openid")

    response = dpop_get(ME, token, key.proof("GET", ME, access_token=token))

    assert response.status_code == 403
    assert response["WWW-Authenticate"].startswith('DPoP realm="api", error="insufficient_scope"')


def test_no_token_gets_both_challenges_without_an_error():
    response = Client().get(ME)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == (
        f'Bearer realm="api", {API_METADATA}, DPoP algs="ES256 RS256 PS256 EdDSA", {API_METADATA}'
    )


def test_an_app_whose_tokens_are_bearer_is_unaffected(member):
    token = issue_token("member-read", user=member)

    assert Client().get(ME, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


# --- UserInfo -----------------------------------------------------------------------------------


def test_userinfo_takes_a_bound_token_with_its_proof(key, member):
    token = bound_token(key, member)

    response = dpop_get(USERINFO, token, key.proof("GET", USERINFO, access_token=token))

    assert response.status_code == 200, response.content
    assert response.json()["sub"]


def test_userinfo_refuses_a_bound_token_as_bearer(key, member):
    token = bound_token(key, member)

    response = Client().get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_refused(response, "invalid_token", scheme="Bearer")


def test_userinfo_refuses_a_proof_for_another_url(key, member):
    token = bound_token(key, member)

    response = dpop_get(USERINFO, token, key.proof("GET", ME, access_token=token))

    assert_refused(response, "invalid_dpop_proof")


def test_userinfo_refuses_a_bound_token_also_in_the_body_and_spends_no_proof(key, member):
    """RFC 6750 §2: the header and the body at once is 400 invalid_request, on the DPoP challenge;
    refused before the proof is checked, so its `jti` is still unused."""
    token = bound_token(key, member)
    proof = key.proof("POST", USERINFO, access_token=token)

    def post(body: str):
        return Client().post(
            USERINFO,
            body,
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"DPoP {token}",
            HTTP_DPOP=proof,
        )

    refused = post(f"access_token={token}")
    answered = post("")

    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in refused["WWW-Authenticate"].partition(", DPoP ")[2]
    assert answered.status_code == 200, answered.content
    assert answered.json()["sub"]


# --- Protected resource metadata (RFC 9728) -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/.well-known/oauth-protected-resource", "https://testserver"),
        ("/.well-known/oauth-protected-resource/api/v1", "https://testserver/api/v1"),
    ],
)
def test_protected_resource_metadata(path, resource):
    response = Client().get(path)

    document = response.json()
    assert response.status_code == 200
    assert document["resource"] == resource  # §3.3: the URL the metadata was fetched for
    assert document["authorization_servers"] == ["https://testserver"]
    assert document["bearer_methods_supported"] == ["header"]
    assert "member-read" in document["scopes_supported"]
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256", "EdDSA"]
    assert document["dpop_bound_access_tokens_required"] is False
    assert response["Access-Control-Allow-Origin"] == "*"


# --- The DOT internal this relies on ------------------------------------------------------------


def test_dot_hands_oauthlib_every_meta_key_so_the_presentation_reaches_the_validator():
    """apps/oauth/dpop_resource.py: OAuthLibCore.extract_headers copies request.META."""
    request = RequestFactory().get("/api/v1/members/me", HTTP_AUTHORIZATION="DPoP abc")
    presentation = dpop_resource.present(request)

    headers = get_oauthlib_core().extract_headers(request)

    assert headers[dpop_resource.PRESENTATION_KEY] is presentation
    assert headers["Authorization"] == "Bearer abc"


# --- Over HTTP, as a client library would -------------------------------------------------------


def test_a_client_gets_a_bound_token_and_calls_the_api_with_proofs(live_server):
    application = service_application()
    client = DPoPClient(live_server.url)
    token = client.token(
        {"grant_type": "client_credentials", "scope": "member-read"},
        auth=(application.client_id, application.secret),
    ).json()["access_token"]
    url = f"{live_server.url}/api/v1/members"

    def call(proof_nonce):
        proof = client.key.proof("GET", url, access_token=token, nonce=proof_nonce)
        return requests.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof}, timeout=10)

    first = call(client.nonce)
    replay_proof = client.key.proof("GET", url, access_token=token, nonce=client.nonce)
    headers = {"Authorization": f"DPoP {token}", "DPoP": replay_proof}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
    replayed = requests.get(url, headers=headers, timeout=10)
    as_bearer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert first.status_code == 200, first.text
    assert (replayed.status_code, replayed.json()["error"]) == (401, "invalid_dpop_proof")
    assert (as_bearer.status_code, as_bearer.json()["error"]) == (401, "invalid_token")
