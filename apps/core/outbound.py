"""Requests Latch makes to a URL that an application chose itself: never to an internal address.

A client registered through /oauth/register (RFC 7591) chooses its own `jwks_uri` and
`backchannel_logout_uri`, which Latch then fetches or POSTs to from inside the deployment's
network. Unchecked, that is a server-side request forgery: a client pointing Latch at
`https://10.0.0.5/...`, a database's HTTP port on 127.0.0.1, or a cloud metadata address. The
registration refuses such IP literals (apps/registration/metadata.py); this checks, just before
the request, every address the URL's host name resolves to (RFC 6890's special-purpose ranges:
anything `ipaddress` does not call global). Applications an administrator registered are trusted
to name internal hosts on purpose, so only self-registered ones are checked.

What this does not close: a DNS answer that changes between this check and the connection (DNS
rebinding with a zero TTL). Pinning the connection to the checked address would need a transport
of Latch's own beneath `requests`; the timeout, no redirects and the size limits still bound what
such a request can do.
"""

import ipaddress
import socket
from urllib.parse import urlsplit


class InternalDestination(Exception):
    """The URL's host is, or resolves to, an address that is not on the public internet."""


def self_registered(application) -> bool:
    """Whether the application's URIs are its own choice (RFC 7591), not an administrator's."""
    return getattr(application, "registration_source", "") == "dcr"


def internal_ip_literal(host: str) -> bool:
    """Whether `host` is an IP address that is not public; a name is for require_public_destination
    to resolve, at the time of the request."""
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False


def require_public_destination(url: str) -> None:
    """Raise InternalDestination unless every address `url`'s host resolves to is global."""
    host = ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        raise InternalDestination(f"{host!r} does not resolve: {exc}") from exc
    for *_, address in answers:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global:
            raise InternalDestination(f"{host!r} resolves to {ip}, which is not a public address")
