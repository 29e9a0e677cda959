"""The client's IP: X-Forwarded-For counts only when the peer is one of LATCH_TRUSTED_PROXIES.

A client that reaches Latch directly must not choose its own address per request (and so escape
every per-IP limit); behind the proxies, the address is the first one from the right that is not
a proxy's. Whatever the header holds, the answer is an address, never a 500.
"""

from ipaddress import ip_network

import pytest
from django.test import Client, RequestFactory

from apps.accounts.ip import client_ip, client_ip_address
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db

PROXIES = (ip_network("10.0.0.0/8"), ip_network("2001:db8:1::/48"))


@pytest.fixture
def behind_proxies(settings):
    settings.LATCH_TRUSTED_PROXIES = PROXIES
    # What a deployment had before: it must not matter any more (it made allauth trust the header).
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1


def ip_of(remote_addr: str, forwarded_for: str | None = None) -> str:
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    return client_ip(RequestFactory(REMOTE_ADDR=remote_addr, **headers).get("/"))


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(behind_proxies):
    assert ip_of("203.0.113.5", "198.51.100.1") == "203.0.113.5"
    assert ip_of("203.0.113.5", "10.0.0.1, 198.51.100.1") == "203.0.113.5"


def test_without_trusted_proxies_the_header_never_counts(settings):
    settings.LATCH_TRUSTED_PROXIES = ()

    assert ip_of("10.0.0.2", "198.51.100.1") == "10.0.0.2"


def test_behind_trusted_proxies_the_first_address_that_is_not_a_proxy_wins(behind_proxies):
    # The client forged the leftmost entry; the proxies appended the rest.
    assert ip_of("10.0.0.2", "192.0.2.66, 203.0.113.7, 10.0.0.3") == "203.0.113.7"
    assert ip_of("10.0.0.2", "203.0.113.7") == "203.0.113.7"
    assert ip_of("10.0.0.2") == "10.0.0.2"


def test_a_header_shorter_than_the_proxy_chain_gives_the_last_proxy(behind_proxies):
    assert ip_of("10.0.0.2", "10.0.0.3") == "10.0.0.3"
    assert ip_of("10.0.0.2", "") == "10.0.0.2"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("198.51.100.1, not-an-ip, 10.0.0.3", "10.0.0.3"),
        ("203.0.113.7:4711", "10.0.0.2"),
        (",,,", "10.0.0.2"),
        ("203.0.113.7\r\nX-Evil: 1", "10.0.0.2"),
        ("999.1.1.1, 10.0.0.3", "10.0.0.3"),
    ],
)
def test_garbage_in_the_header_ends_the_walk_at_the_last_trusted_hop(behind_proxies, header, expected):
    assert ip_of("10.0.0.2", header) == expected


def test_ipv6_peers_and_proxies(behind_proxies):
    assert ip_of("2001:db8:1::2", "2001:DB8:ffff::7") == "2001:db8:ffff::7"
    assert ip_of("2001:db8:ffff::9", "198.51.100.1") == "2001:db8:ffff::9"
    # A proxy seen through an IPv6 socket as an IPv4-mapped address is still that proxy.
    assert ip_of("::ffff:10.0.0.2", "203.0.113.7") == "203.0.113.7"


def test_a_missing_or_odd_socket_address_is_stored_as_none(behind_proxies):
    request = RequestFactory().get("/")
    request.META.pop("REMOTE_ADDR", None)

    assert client_ip(request) == "unknown"
    assert client_ip_address(request) is None


def test_allauth_uses_latchs_answer_and_a_short_header_is_no_500(behind_proxies, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 3  # allauth's own reading raised ImproperlyConfigured here
    UserFactory(email="ada@example.org")

    response = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7").post(
        "/accounts/login/", {"login": "ada@example.org", "password": "wrong"}
    )

    assert response.status_code == 200


def test_a_spoofer_changing_forwarded_for_per_request_is_still_throttled_by_ip(behind_proxies, settings):
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_IP = 3
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT = 100
    applications = [service_application() for _ in range(5)]

    statuses = [
        Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        .post("/oauth/token", {"grant_type": "client_credentials"}, **flow.basic_auth(app.client_id, "guess"))
        .status_code
        for n, app in enumerate(applications)
    ]

    assert statuses == [401, 401, 401, 429, 429]


def test_a_spoofer_changing_forwarded_for_is_still_held_by_the_sign_in_limit(behind_proxies, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip"}
    for n in range(3):
        Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").post(
            "/accounts/login/", {"login": f"nobody{n}@example.org", "password": "wrong"}
        )
    UserFactory(email="ada@example.org")

    response = Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="192.0.2.200").post(
        "/accounts/login/", {"login": "ada@example.org", "password": "wrong"}
    )

    assert "Too many failed login attempts" in response.content.decode()
