from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from apps.accounts.ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    """An association's administrators create members; nobody signs themselves up."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def get_client_ip(self, request: HttpRequest) -> str:
        """Latch's one answer (apps/accounts/ip.py) for allauth's rate limits, not allauth's own.

        allauth's reads ALLAUTH_TRUSTED_PROXY_COUNT, trusts the header from any peer and raises
        ImproperlyConfigured (a 500) when the header is shorter than the count.
        """
        return client_ip(request)
