"""Requests to URLs an application registered itself never reach an internal address
(apps/core/outbound.py): the server-side request forgery a self-registered jwks_uri or
back-channel logout URI would otherwise allow. DNS is replaced by a table, so the tests say which
address a name resolves to."""

import socket

import pytest
import responses as responses_lib
from django.test import Client

from apps.backchannel.delivery import deliver_due
from apps.backchannel.models import LogoutDelivery
from apps.core import outbound
from apps.oauth.models import Application
from tests.accounts.factories import UserFactory
from tests.oauth.assertions import assertion, assertion_body, client_key, jwks, pkjwt_application
from tests.oauth.factories import ApplicationFactory

INTERNAL = [
    "127.0.0.1",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",
    "::1",
    "fd00::1",
    "0.0.0.0",  # noqa: S104 (an address to refuse, not one to bind)
]
PUBLIC = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch):
    """`dns[name] = [address, ...]`: what getaddrinfo answers; an unknown name does not resolve."""
    table: dict[str, list[str]] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize("address", INTERNAL)
def test_a_name_resolving_to_an_internal_address_is_refused(dns, address):
    dns["app.example.org"] = [address]

    with pytest.raises(outbound.InternalDestination):
        outbound.require_public_destination("https://app.example.org/jwks.json")


def test_one_internal_address_among_public_ones_is_refused(dns):
    dns["app.example.org"] = [PUBLIC, "10.0.0.5"]

    with pytest.raises(outbound.InternalDestination):
        outbound.require_public_destination("https://app.example.org/jwks.json")


@pytest.mark.parametrize("url", ["https://nowhere.example.org/", "https:///path", "https://[::1/"])
def test_a_name_that_does_not_resolve_or_a_broken_url_is_refused(dns, url):
    with pytest.raises(outbound.InternalDestination):
        outbound.require_public_destination(url)


def test_a_public_address_is_allowed(dns):
    dns["app.example.org"] = [PUBLIC]

    outbound.require_public_destination("https://app.example.org:8443/jwks.json")


JWKS_URI = "https://app.example.org/jwks.json"


def self_registered(application: Application) -> Application:
    Application.objects.filter(pk=application.pk).update(registration_source="dcr")
    application.refresh_from_db()
    return application


def token_request(application, key):
    body = {"grant_type": "client_credentials", "scope": "member-read"}
    return Client().post("/oauth/token", {**body, **assertion_body(assertion(application, key))})


@pytest.mark.django_db
def test_a_self_registered_clients_jwks_uri_is_not_fetched_from_an_internal_address(dns):
    dns["app.example.org"] = ["10.0.0.5"]
    key = client_key()
    application = self_registered(pkjwt_application(jwks_uri=JWKS_URI))
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as server:
        server.get(JWKS_URI, json=jwks(key))

        response = token_request(application, key)

        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert len(server.calls) == 0


@pytest.mark.django_db
def test_a_self_registered_clients_jwks_uri_at_a_public_address_is_fetched(dns):
    dns["app.example.org"] = [PUBLIC]
    key = client_key()
    application = self_registered(pkjwt_application(jwks_uri=JWKS_URI))
    with responses_lib.RequestsMock() as server:
        server.get(JWKS_URI, json=jwks(key))

        assert token_request(application, key).status_code == 200


@pytest.mark.django_db
def test_an_administrators_application_may_name_an_internal_host(dns):
    dns["app.example.org"] = ["10.0.0.5"]
    key = client_key()
    application = pkjwt_application(jwks_uri=JWKS_URI)
    with responses_lib.RequestsMock() as server:
        server.get(JWKS_URI, json=jwks(key))

        assert token_request(application, key).status_code == 200


@pytest.mark.django_db
def test_a_self_registered_apps_logout_token_is_not_posted_to_an_internal_address(dns):
    dns["rp.example.org"] = ["169.254.169.254"]
    application = ApplicationFactory()
    Application.objects.filter(pk=application.pk).update(
        registration_source="dcr", backchannel_logout_uri="https://rp.example.org/logout"
    )
    member = UserFactory()
    delivery = LogoutDelivery.objects.create(
        application=application,
        user=member,
        sub=str(member.public_id),
        reason=LogoutDelivery.Reason.SESSION_ENDED,
    )
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as server:
        server.post("https://rp.example.org/logout", status=200)

        deliver_due()

        assert len(server.calls) == 0
    delivery.refresh_from_db()
    assert delivery.status != LogoutDelivery.Status.DELIVERED
    assert "not a public address" in delivery.last_error
