"""The client's IP address, decided in one place for rate limits, throttling, sessions and the audit log.

X-Forwarded-For is believed only as far as LATCH_TRUSTED_PROXIES (networks, parsed at start-up by
`trusted_proxies_from_env`) vouch for it: a request whose socket peer is not a trusted proxy is
taken at its socket address, whatever it sends. Behind the proxies, the header is walked from the
right (each proxy appends the address it saw), past every trusted proxy, to the first address that
is not one: entries further left were written by the client and prove nothing. allauth asks the
same function (apps/accounts/adapter.py), so its rate limits and Latch's throttling agree.

Imported by config/settings.py: nothing here may touch models or settings at import time.
"""

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies_from_env(value: str, *, legacy_proxy_count: str | None) -> tuple[IPNetwork, ...]:
    """LATCH_TRUSTED_PROXIES, "10.0.0.0/8, 2001:db8::/32, 192.0.2.7", as networks; anything else stops Latch.

    The old LATCH_TRUSTED_PROXY_COUNT trusted the header from any peer; ignoring it silently would
    instead make every client look like the proxy, so a deployment still setting it does not start.
    """
    if legacy_proxy_count is not None:
        raise ImproperlyConfigured(
            "LATCH_TRUSTED_PROXY_COUNT is no longer read: it let any client that reaches Latch directly "
            "choose its IP address. Set LATCH_TRUSTED_PROXIES to the networks of your proxies instead "
            "(comma-separated CIDRs, e.g. LATCH_TRUSTED_PROXIES=10.0.0.0/8) and remove it."
        )
    networks = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"LATCH_TRUSTED_PROXIES: {entry!r} is not a network (CIDR such as 10.0.0.0/8): {exc}"
            ) from None
    return tuple(networks)


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A proxy seen through an IPv6 socket as ::ffff:10.0.0.2 is the IPv4 proxy 10.0.0.2.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Iterable[IPNetwork]) -> bool:
    return any(address in network for network in proxies)


def client_ip(request: "HttpRequest") -> str:
    """The client's address as text; "unknown" if the socket's address is missing or not an address.

    Garbage in X-Forwarded-For (a port, a name, a forged header line) ends the walk: the answer is
    then the last trusted hop, which is at least an address the proxies saw. Never raises.
    """
    remote = _address(request.META.get("REMOTE_ADDR") or "")
    if remote is None:
        return "unknown"
    proxies = settings.LATCH_TRUSTED_PROXIES
    hop = remote
    if _trusted(hop, proxies):
        for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
            forwarded = _address(entry)
            if forwarded is None:
                break
            hop = forwarded
            if not _trusted(hop, proxies):
                break
    return str(hop)


def client_ip_address(request: "HttpRequest | None") -> str | None:
    """client_ip() if it is an IP address, else None: what an IP address column may store."""
    if request is None:
        return None
    address = client_ip(request)
    return None if address == "unknown" else address
