"""DPoP beside the other request shapes of issue 14: a pushed `dpop_jkt` (RFC 9126 with RFC 9449
§10) binds the code as a plain one does, and a device's poll with a proof (RFC 8628 with RFC 9449
§5) gets bound tokens."""

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, Grant, PushedAuthorizationRequest, RefreshToken
from tests.dpop.proofs import ProofKey
from tests.oauth import device, flow
from tests.oauth.factories import pkce_pair
from tests.oauth.flow import app_auth, authorize_params
from tests.oauth.par import authorize_url, push, request_uri

pytestmark = pytest.mark.django_db


PAR_URL = "http://testserver/oauth/par"


def push_with_proof(application, proof: str, **extra):
    """A confidential app pushes its request with a DPoP proof (RFC 9449 §10.1)."""
    data = authorize_params(application, "openid member-read", pkce_pair()[1], **extra)
    data.pop("client_id")
    return Client(HTTP_DPOP=proof).post("/oauth/par", data, **app_auth(application))


def consent_to(browser: Client, application, uri: str) -> str:
    """The member allows the pushed request; returns the code."""
    page = browser.get(authorize_url(application, uri))
    assert page.status_code == 200, page.content
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    answer = browser.post("/oauth/authorize", {**data, "allow": "true"})
    return flow.redirect_params(answer)["code"]


def pushed_code(browser: Client, application, dpop_jkt: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    uri = request_uri(application, "openid member-read", challenge, dpop_jkt=dpop_jkt)
    return consent_to(browser, application, uri), verifier


def test_a_pushed_dpop_jkt_binds_the_code_to_that_key(browser, application):
    key = ProofKey()
    code, verifier = pushed_code(browser, application, key.jkt)

    refused = flow.redeem(Client(HTTP_DPOP=ProofKey().proof()), application, code, verifier)
    redeemed = flow.redeem(Client(HTTP_DPOP=key.proof()), application, code, verifier)

    assert Grant.objects.get().jkt == key.jkt
    assert refused.json()["error"] == "invalid_grant"
    assert redeemed.status_code == 200, redeemed.content
    assert redeemed.json()["token_type"] == "DPoP"
    assert AccessToken.objects.get().jkt == key.jkt


def test_a_malformed_pushed_dpop_jkt_is_refused_at_the_push(application):
    response = push(application, "openid member-read", pkce_pair()[1], dpop_jkt="not-a-thumbprint")

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"


def test_a_device_polling_with_a_proof_gets_tokens_bound_to_its_key(browser):
    application = device.device_application()
    key = ProofKey()
    codes = device.codes(application, "openid member-read offline_access")
    assert device.answer(browser, codes["user_code"], allow=True).status_code == 200

    response = device.poll(Client(HTTP_DPOP=key.proof()), application, codes["device_code"])

    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"
    assert AccessToken.objects.get().jkt == key.jkt
    # A public client's refresh token is bound too (RFC 9449 §5).
    assert RefreshToken.objects.get().jkt == key.jkt


def test_a_proof_sent_with_the_push_binds_the_code_to_its_key(browser, application):
    key = ProofKey()

    response = push_with_proof(application, key.proof("POST", PAR_URL))
    consent_to(browser, application, response.json()["request_uri"])

    assert response.status_code == 201, response.content
    assert Grant.objects.get().jkt == key.jkt


def test_a_proof_and_a_dpop_jkt_of_another_key_are_refused_at_the_push(application):
    response = push_with_proof(application, ProofKey().proof("POST", PAR_URL), dpop_jkt=ProofKey().jkt)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
    assert not PushedAuthorizationRequest.objects.exists()


def test_a_proof_made_for_another_endpoint_is_refused_at_the_push(application):
    response = push_with_proof(application, ProofKey().proof("POST", "http://testserver/oauth/token"))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
    assert not PushedAuthorizationRequest.objects.exists()
