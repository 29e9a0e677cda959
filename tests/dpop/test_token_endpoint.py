"""RFC 9449 §5, §8, §10 at /oauth/token: bound tokens for every grant, and every way to be refused."""

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.dpop.nonces import current_nonce
from apps.dpop.proofs import SUPPORTED_ALGORITHMS
from apps.oauth.models import AccessToken, Grant, RefreshToken
from apps.oauth.validators import token_checksum
from tests.dpop.proofs import ProofKey
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, public_application, service_application

pytestmark = pytest.mark.django_db

SCOPE = "member-read offline_access"


@pytest.fixture
def key() -> ProofKey:
    return ProofKey()


def with_proof(proof: str) -> Client:
    """A client whose every request carries this DPoP header."""
    return Client(HTTP_DPOP=proof)


def stored_access_token(value: str) -> AccessToken:
    return AccessToken.objects.get(token_checksum=token_checksum(value))


def stored_refresh_token(value: str) -> RefreshToken:
    return RefreshToken.objects.get(token_checksum=token_checksum(value))


def assert_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error, body
    return body


# --- client_credentials -------------------------------------------------------------------------


def test_client_credentials_with_a_proof_get_a_dpop_token_bound_to_its_key(key):
    response = flow.client_credentials(with_proof(key.proof()), service_application(), scope="member-read")

    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"
    assert stored_access_token(response.json()["access_token"]).jkt == key.jkt
    assert response["DPoP-Nonce"] == current_nonce()


def test_client_credentials_without_a_proof_get_a_bearer_token_as_before():
    response = flow.client_credentials(Client(), service_application(), scope="member-read")

    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "Bearer"
    assert stored_access_token(response.json()["access_token"]).jkt == ""
    assert "DPoP-Nonce" not in response


@pytest.mark.parametrize("alg", SUPPORTED_ALGORITHMS)
def test_every_advertised_proof_algorithm_is_accepted(alg):
    advertised = Client().get("/.well-known/openid-configuration").json()["dpop_signing_alg_values_supported"]
    key = ProofKey(alg)

    response = flow.client_credentials(with_proof(key.proof()), service_application(), scope="member-read")

    assert alg in advertised
    assert response.json()["token_type"] == "DPoP"
    assert stored_access_token(response.json()["access_token"]).jkt == key.jkt


def test_the_token_issued_audit_event_names_the_key():
    key = ProofKey()
    flow.client_credentials(with_proof(key.proof()), service_application(), scope="member-read")

    (issued,) = AuditEvent.objects.filter(event=AuditEvent.Event.TOKEN_ISSUED)
    assert issued.details["dpop_jkt"] == key.jkt


# --- Refused proofs change nothing --------------------------------------------------------------


@pytest.mark.parametrize(
    "proof_of",
    [
        lambda key: "garbage",
        lambda key: key.proof(method="GET"),
        lambda key: key.proof(url="http://testserver/oauth/revoke"),
        lambda key: key.proof(url="https://elsewhere.example/oauth/token"),
        lambda key: key.proof(iat=0),
        lambda key: f"{key.proof()},{key.proof()}",  # two DPoP headers, as WSGI joins them
    ],
    ids=["garbage", "htm", "htu-path", "htu-host", "stale", "two-headers"],
)
def test_an_invalid_proof_is_invalid_dpop_proof_and_issues_nothing(key, proof_of):
    response = flow.client_credentials(with_proof(proof_of(key)), service_application(), scope="member-read")

    assert_error(response, 400, "invalid_dpop_proof")
    assert response["DPoP-Nonce"] == current_nonce()
    assert "no-store" in response["Cache-Control"]
    assert not AccessToken.objects.exists()


def test_a_replayed_proof_is_refused(key):
    application = service_application()
    proof = key.proof()
    assert flow.client_credentials(with_proof(proof), application, scope="member-read").status_code == 200

    replay = flow.client_credentials(with_proof(proof), application, scope="member-read")

    assert "used before" in assert_error(replay, 400, "invalid_dpop_proof")["error_description"]
    assert AccessToken.objects.count() == 1


def test_a_proof_without_a_nonce_gets_use_dpop_nonce_and_the_retry_with_it_succeeds(key):
    application = service_application()

    first = flow.client_credentials(with_proof(key.proof(nonce=None)), application, scope="member-read")

    assert_error(first, 400, "use_dpop_nonce")
    nonce = first["DPoP-Nonce"]
    assert not AccessToken.objects.exists()
    retry = flow.client_credentials(with_proof(key.proof(nonce=nonce)), application, scope="member-read")
    assert retry.status_code == 200, retry.content
    assert retry.json()["token_type"] == "DPoP"


def test_a_made_up_nonce_gets_use_dpop_nonce(key):
    response = flow.client_credentials(
        with_proof(key.proof(nonce="made-up")), service_application(), scope="member-read"
    )

    assert_error(response, 400, "use_dpop_nonce")
    assert response["DPoP-Nonce"] == current_nonce()


def test_without_the_nonce_setting_no_nonce_is_asked_or_sent(key, settings):
    settings.LATCH_DPOP_REQUIRE_NONCE = False

    response = flow.client_credentials(
        with_proof(key.proof(nonce=None)), service_application(), scope="member-read"
    )

    assert response.json()["token_type"] == "DPoP"
    assert "DPoP-Nonce" not in response


def test_a_client_error_with_a_good_proof_still_names_the_nonce(key):
    application = service_application()
    application.secret = "wrong"

    response = flow.client_credentials(with_proof(key.proof()), application, scope="member-read")

    assert_error(response, 401, "invalid_client")
    assert response["DPoP-Nonce"] == current_nonce()


# --- require_dpop -------------------------------------------------------------------------------


def test_an_app_that_requires_dpop_gets_no_token_without_a_proof(key):
    application = service_application(require_dpop=True)

    refused = flow.client_credentials(Client(), application, scope="member-read")

    assert "must send a DPoP proof" in assert_error(refused, 400, "invalid_dpop_proof")["error_description"]
    assert not AccessToken.objects.exists()
    allowed = flow.client_credentials(with_proof(key.proof()), application, scope="member-read")
    assert allowed.json()["token_type"] == "DPoP"


def test_a_code_of_an_app_that_requires_dpop_survives_a_request_without_a_proof(browser, key):
    application = public_application(require_dpop=True)
    code, verifier = flow.get_code(browser, application, SCOPE)

    assert_error(flow.redeem(Client(), application, code, verifier), 400, "invalid_dpop_proof")

    assert Grant.objects.get().redeemed_at is None
    redeemed = flow.redeem(with_proof(key.proof()), application, code, verifier)
    assert redeemed.json()["token_type"] == "DPoP"


def test_a_refresh_of_an_app_that_requires_dpop_needs_a_proof(browser, key):
    application = ApplicationFactory(require_dpop=True)
    code, verifier = flow.get_code(browser, application, SCOPE)
    tokens = flow.redeem(with_proof(key.proof()), application, code, verifier).json()

    refused = flow.refresh(Client(), application, tokens["refresh_token"])

    assert_error(refused, 400, "invalid_dpop_proof")
    assert stored_refresh_token(tokens["refresh_token"]).revoked is None


# --- The code flow and refresh tokens -----------------------------------------------------------


def test_a_public_clients_code_flow_binds_the_access_and_the_refresh_token(browser, key):
    application = public_application()
    code, verifier = flow.get_code(browser, application, SCOPE)

    response = flow.redeem(with_proof(key.proof()), application, code, verifier)

    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["token_type"] == "DPoP"
    assert stored_access_token(tokens["access_token"]).jkt == key.jkt
    assert stored_refresh_token(tokens["refresh_token"]).jkt == key.jkt


def test_a_confidential_clients_refresh_token_is_not_bound(browser, application, key):
    code, verifier = flow.get_code(browser, application, SCOPE)

    tokens = flow.redeem(with_proof(key.proof()), application, code, verifier).json()

    assert stored_access_token(tokens["access_token"]).jkt == key.jkt
    assert stored_refresh_token(tokens["refresh_token"]).jkt == ""


def test_a_code_flow_without_a_proof_is_bearer_as_before(browser, application):
    code, verifier = flow.get_code(browser, application, SCOPE)

    tokens = flow.redeem(Client(), application, code, verifier).json()

    assert tokens["token_type"] == "Bearer"
    assert stored_access_token(tokens["access_token"]).jkt == ""


@pytest.fixture
def public_tokens(browser, key):
    """A public client's bound tokens: (application, token response)."""
    application = public_application()
    code, verifier = flow.get_code(browser, application, SCOPE)
    return application, flow.redeem(with_proof(key.proof()), application, code, verifier).json()


def test_a_bound_refresh_token_refreshes_with_its_key_and_stays_bound(public_tokens, key):
    application, tokens = public_tokens

    response = flow.refresh(with_proof(key.proof()), application, tokens["refresh_token"])

    assert response.status_code == 200, response.content
    refreshed = response.json()
    assert refreshed["token_type"] == "DPoP"
    assert stored_access_token(refreshed["access_token"]).jkt == key.jkt
    assert stored_refresh_token(refreshed["refresh_token"]).jkt == key.jkt


def test_a_bound_refresh_token_with_another_key_is_invalid_grant_and_stays_usable(public_tokens, key):
    application, tokens = public_tokens

    stolen = flow.refresh(with_proof(ProofKey().proof()), application, tokens["refresh_token"])

    assert "another DPoP key" in assert_error(stolen, 400, "invalid_grant")["error_description"]
    assert stored_refresh_token(tokens["refresh_token"]).revoked is None
    assert stored_access_token(tokens["access_token"]).jkt == key.jkt
    assert flow.refresh(with_proof(key.proof()), application, tokens["refresh_token"]).status_code == 200


def test_a_bound_refresh_token_without_a_proof_is_invalid_grant(public_tokens, key):
    application, tokens = public_tokens

    response = flow.refresh(Client(), application, tokens["refresh_token"])

    assert "bound to a DPoP key" in assert_error(response, 400, "invalid_grant")["error_description"]
    assert stored_refresh_token(tokens["refresh_token"]).revoked is None


def test_a_confidential_client_may_refresh_with_a_new_key(browser, application, key):
    code, verifier = flow.get_code(browser, application, SCOPE)
    tokens = flow.redeem(with_proof(key.proof()), application, code, verifier).json()
    new_key = ProofKey()

    response = flow.refresh(with_proof(new_key.proof()), application, tokens["refresh_token"])

    assert response.status_code == 200, response.content
    assert stored_access_token(response.json()["access_token"]).jkt == new_key.jkt


def test_a_public_clients_bearer_refresh_token_becomes_bound_when_refreshed_with_a_proof(browser, key):
    application = public_application()
    code, verifier = flow.get_code(browser, application, SCOPE)
    tokens = flow.redeem(Client(), application, code, verifier).json()

    refreshed = flow.refresh(with_proof(key.proof()), application, tokens["refresh_token"]).json()

    assert refreshed["token_type"] == "DPoP"
    assert stored_refresh_token(refreshed["refresh_token"]).jkt == key.jkt
