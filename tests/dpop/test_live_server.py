"""DPoP over real HTTP: a `requests` client signing joserfc proofs against a live Latch.

The client behaves as DPoP client libraries do: it keeps the last `DPoP-Nonce` it was given and,
refused with `use_dpop_nonce`, signs a new proof with the nonce and tries once more (§8.1).
"""

import http.client
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from django.test import Client

from apps.oauth.models import AccessToken, RefreshToken
from apps.oauth.validators import token_checksum
from tests.accounts.factories import UserFactory
from tests.dpop.proofs import ProofKey
from tests.oauth import flow
from tests.oauth.factories import (
    REDIRECT_URI,
    ApplicationFactory,
    pkce_pair,
    public_application,
    service_application,
)


class DPoPClient:
    """An app's HTTP client with a DPoP key, talking to Latch at `base_url`."""

    def __init__(self, base_url: str, key: ProofKey | None = None) -> None:
        self.base_url = base_url
        self.key = key or ProofKey()
        self.nonce: str | None = None
        self.session = requests.Session()
        self.nonce_retries = 0

    def token(self, data: dict, auth: tuple[str, str] | None = None) -> requests.Response:
        url = f"{self.base_url}/oauth/token"
        response = self._post(url, data, auth)
        if response.status_code == 400 and response.json().get("error") == "use_dpop_nonce":
            self.nonce_retries += 1
            response = self._post(url, data, auth)
        return response

    def _post(self, url: str, data: dict, auth) -> requests.Response:
        proof = self.key.proof("POST", url, nonce=self.nonce)
        response = self.session.post(url, data=data, auth=auth, headers={"DPoP": proof}, timeout=10)
        self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
        return response


@pytest.fixture
def latch(live_server) -> str:
    return live_server.url


def stored_access_token(value: str) -> AccessToken:
    return AccessToken.objects.get(token_checksum=token_checksum(value))


def test_client_credentials_nonce_round_trip_then_a_bound_token_that_introspects_with_its_key(latch):
    application = service_application()
    resource_server = ApplicationFactory(name="API", is_resource_server=True)
    client = DPoPClient(latch)

    response = client.token(
        {"grant_type": "client_credentials", "scope": "member-read"},
        auth=(application.client_id, application.secret),
    )

    assert client.nonce_retries == 1  # the first proof had no nonce: use_dpop_nonce, then the retry
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    introspected = requests.post(
        f"{latch}/oauth/introspect",
        data={"token": response.json()["access_token"]},
        auth=(resource_server.client_id, resource_server.secret),
        timeout=10,
    ).json()
    assert introspected["token_type"] == "DPoP"
    assert introspected["cnf"] == {"jkt": client.key.jkt}


def test_a_public_clients_code_flow_with_dpop_jkt_and_refreshes_with_the_right_and_the_wrong_key(latch):
    application = public_application()
    browser = Client()
    browser.force_login(UserFactory())
    client = DPoPClient(latch)
    verifier, challenge = pkce_pair()
    consent = flow.submit_consent(
        browser, application, "member-read offline_access", challenge, allow=True, dpop_jkt=client.key.jkt
    )
    code = flow.redirect_params(consent)["code"]

    tokens = client.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": application.client_id,
        }
    ).json()

    assert tokens["token_type"] == "DPoP"
    assert stored_access_token(tokens["access_token"]).jkt == client.key.jkt
    thief = DPoPClient(latch)
    stolen = thief.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": application.client_id,
        }
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    refreshed = client.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": application.client_id,
        }
    )
    assert refreshed.status_code == 200, refreshed.text
    new_refresh = RefreshToken.objects.get(token_checksum=token_checksum(refreshed.json()["refresh_token"]))
    assert new_refresh.jkt == client.key.jkt


def test_a_replayed_proof_is_refused_over_http(latch):
    application = service_application()
    client = DPoPClient(latch)
    data = {"grant_type": "client_credentials", "scope": "member-read"}
    auth = (application.client_id, application.secret)
    assert client.token(data, auth).status_code == 200
    proof = client.key.proof("POST", f"{latch}/oauth/token", nonce=client.nonce)
    assert requests.post(f"{latch}/oauth/token", data=data, auth=auth, headers={"DPoP": proof}, timeout=10).ok

    replay = requests.post(f"{latch}/oauth/token", data=data, auth=auth, headers={"DPoP": proof}, timeout=10)

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_dpop_proof"


def test_two_dpop_headers_on_the_wire_are_refused(latch):
    application = service_application()
    key = ProofKey()
    parts = urlsplit(latch)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    body = urlencode({
        "grant_type": "client_credentials", "scope": "member-read",
        "client_id": application.client_id, "client_secret": application.secret,
    })  # fmt: skip
    connection.putrequest("POST", "/oauth/token")
    connection.putheader("Content-Type", "application/x-www-form-urlencoded")
    connection.putheader("Content-Length", str(len(body)))
    connection.putheader("DPoP", key.proof("POST", f"{latch}/oauth/token"))
    connection.putheader("DPoP", key.proof("POST", f"{latch}/oauth/token"))
    connection.endheaders(body.encode())

    response = connection.getresponse()

    assert response.status == 400
    assert b"invalid_dpop_proof" in response.read()
    assert not AccessToken.objects.exists()
