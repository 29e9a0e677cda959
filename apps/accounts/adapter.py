from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest, HttpResponse

from apps.accounts import services
from apps.accounts.ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    """An association's administrators create members; nobody signs themselves up."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def pre_login(self, request: HttpRequest, user, **kwargs) -> HttpResponse | None:
        """In a browser that is already signed in, a new sign-in replaces that session.

        Every allauth sign-in (password, passkey, upstream) passes here once its first factor is
        proven, before its later steps (allauth's two-factor step refuses a signed-in session). The
        sign-in page shows its form to signed-in members (ACCOUNT_AUTHENTICATED_LOGIN_REDIRECTS).
        """
        response = super().pre_login(request, user, **kwargs)
        if response is None:
            services.session_replace_for_sign_in(request, user)
        return response

    def get_client_ip(self, request: HttpRequest) -> str:
        """Latch's one answer (apps/accounts/ip.py) for allauth's rate limits, not allauth's own.

        allauth's reads ALLAUTH_TRUSTED_PROXY_COUNT, trusts the header from any peer and raises
        ImproperlyConfigured (a 500) when the header is shorter than the count.
        """
        return client_ip(request)
