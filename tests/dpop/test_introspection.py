"""RFC 9449 §6.2 at /oauth/introspect: a bound token says so (token_type DPoP) and names its key (cnf)."""

import pytest
from django.test import Client

from tests.dpop.proofs import ProofKey
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, public_application, service_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def resource_server():
    return ApplicationFactory(name="Resource server", is_resource_server=True)


def introspect(token: str, caller) -> dict:
    response = Client().post("/oauth/introspect", {"token": token}, **flow.app_auth(caller))
    assert response.status_code == 200, response.content
    return response.json()


def test_a_bound_access_token_introspects_as_dpop_with_its_key(resource_server):
    key = ProofKey()
    tokens = flow.client_credentials(
        Client(HTTP_DPOP=key.proof()), service_application(), scope="member-read"
    ).json()

    claims = introspect(tokens["access_token"], resource_server)

    assert claims["active"] is True
    assert claims["token_type"] == "DPoP"
    assert claims["cnf"] == {"jkt": key.jkt}


def test_a_bearer_token_introspects_as_bearer_without_cnf(resource_server):
    tokens = flow.client_credentials(Client(), service_application(), scope="member-read").json()

    claims = introspect(tokens["access_token"], resource_server)

    assert claims["token_type"] == "Bearer"
    assert "cnf" not in claims


def test_a_public_clients_bound_refresh_token_names_its_key(browser, resource_server):
    key = ProofKey()
    application = public_application()
    code, verifier = flow.get_code(browser, application, "member-read offline_access")
    tokens = flow.redeem(Client(HTTP_DPOP=key.proof()), application, code, verifier).json()

    claims = introspect(tokens["refresh_token"], resource_server)

    assert claims["active"] is True
    assert claims["cnf"] == {"jkt": key.jkt}
