"""The client's IP address, decided in one place for rate limits, throttling and the audit log."""

import ipaddress

from allauth.account.adapter import get_adapter
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """allauth's answer (LATCH_TRUSTED_PROXY_COUNT decides how much of X-Forwarded-For to trust).

    A request whose X-Forwarded-For has fewer hops than the proxies we expect did not come through
    them; it is counted by its socket address rather than answered with an error.
    """
    try:
        return get_adapter(request).get_client_ip(request)
    except (ImproperlyConfigured, PermissionDenied):
        return request.META.get("REMOTE_ADDR") or "unknown"


def client_ip_address(request: HttpRequest | None) -> str | None:
    """client_ip() if it is an IP address, else None: what an IP address column may store."""
    if request is None:
        return None
    try:
        return str(ipaddress.ip_address(client_ip(request)))
    except ValueError:  # "unknown", or whatever a misconfigured proxy passed on
        return None
