"""RFC 9449 §10: `dpop_jkt` at /oauth/authorize binds the code to a key before any token exists."""

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, Grant
from tests.dpop.proofs import ProofKey
from tests.oauth import flow
from tests.oauth.factories import pkce_pair, public_application

pytestmark = pytest.mark.django_db

SCOPE = "member-read offline_access"


@pytest.fixture
def key() -> ProofKey:
    return ProofKey()


@pytest.fixture
def application():
    return public_application()


def code_with_dpop_jkt(browser: Client, application, dpop_jkt: str) -> tuple[str, str]:
    """The member allows the app on the consent page; returns (code, code_verifier)."""
    verifier, challenge = pkce_pair()
    response = flow.submit_consent(browser, application, SCOPE, challenge, allow=True, dpop_jkt=dpop_jkt)
    return flow.redirect_params(response)["code"], verifier


def test_the_code_remembers_dpop_jkt_and_redeems_with_a_proof_by_that_key(browser, application, key):
    code, verifier = code_with_dpop_jkt(browser, application, key.jkt)

    response = flow.redeem(Client(HTTP_DPOP=key.proof()), application, code, verifier)

    assert Grant.objects.get().jkt == key.jkt
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("other_key", [ProofKey, lambda: None], ids=["another-key", "no-proof"])
def test_a_bound_code_is_refused_without_its_key_and_stays_redeemable(browser, application, key, other_key):
    code, verifier = code_with_dpop_jkt(browser, application, key.jkt)
    other = other_key()

    response = flow.redeem(
        Client(HTTP_DPOP=other.proof()) if other else Client(), application, code, verifier
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"
    assert Grant.objects.get().redeemed_at is None
    assert not AccessToken.objects.exists()
    assert flow.redeem(Client(HTTP_DPOP=key.proof()), application, code, verifier).status_code == 200


def test_a_code_without_dpop_jkt_is_not_bound(browser, application):
    code, verifier = flow.get_code(browser, application, SCOPE)

    assert Grant.objects.get().jkt == ""
    assert flow.redeem(Client(), application, code, verifier).json()["token_type"] == "Bearer"


def test_remembered_consent_binds_the_code_too(browser, application, key):
    code_with_dpop_jkt(browser, application, ProofKey().jkt)  # the first time, on the page
    verifier, challenge = pkce_pair()

    response = flow.consent_page(browser, application, SCOPE, challenge, dpop_jkt=key.jkt)

    code = flow.redirect_params(response)["code"]
    assert Grant.objects.get(redeemed_at=None, jkt=key.jkt)
    assert flow.redeem(Client(HTTP_DPOP=key.proof()), application, code, verifier).status_code == 200


def test_skip_authorization_binds_the_code_too(browser, application, key):
    application.skip_authorization = True
    application.save()
    verifier, challenge = pkce_pair()

    response = flow.consent_page(browser, application, SCOPE, challenge, dpop_jkt=key.jkt)

    code = flow.redirect_params(response)["code"]
    assert Grant.objects.get().jkt == key.jkt
    assert flow.redeem(Client(HTTP_DPOP=key.proof()), application, code, verifier).status_code == 200


@pytest.mark.parametrize(
    "dpop_jkt",
    ["", "short", "A" * 42, "A" * 44, "+" * 43, "=" * 43, "é" * 43],
)
def test_a_malformed_dpop_jkt_is_invalid_request_redirected_with_state(browser, application, dpop_jkt):
    _verifier, challenge = pkce_pair()

    response = flow.consent_page(browser, application, SCOPE, challenge, dpop_jkt=dpop_jkt)

    params = flow.redirect_params(response)
    assert params["error"] == "invalid_request"
    assert "dpop_jkt" in params["error_description"]
    assert params["state"] == "state-123"
    assert not Grant.objects.exists()
