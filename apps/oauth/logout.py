"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at /oauth/logout."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import InvalidOIDCRedirectURIError, LogoutDenied


class LogoutView(dot_views.RPInitiatedLogoutView):
    """DOT's view, with one rule stricter than the spec's minimum: no redirect without an id_token_hint.

    The spec lets `client_id` alone name the app whose registered URI the member returns to. That
    lets any page send a signed-in member through Latch's sign-out to an app of its choosing with a
    `state` of its choosing; with the id_token_hint the app proves it has had this member signed in.
    The registered URI must still match exactly (OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS).
    """

    def validate_logout_request(self, id_token_hint, client_id, post_logout_redirect_uri):
        if post_logout_redirect_uri and not id_token_hint:
            raise InvalidOIDCRedirectURIError("A post_logout_redirect_uri needs an id_token_hint.")
        return super().validate_logout_request(id_token_hint, client_id, post_logout_redirect_uri)

    def do_logout(self, application=None, post_logout_redirect_uri=None, state=None, token_user=None):
        """With no app to return to, end on Latch's sign-in page.

        DOT would redirect to the absolute URL of "/", built from the request's scheme, which its
        https-only redirect check refuses whenever TLS ends at a proxy. Tokens are never deleted on
        sign-out here (OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS is off): "sign out everywhere" on the
        account page does that.
        """
        if post_logout_redirect_uri:
            return super().do_logout(application, post_logout_redirect_uri, state, token_user)
        logout(self.request)
        return redirect("account_login")

    def error_response(self, error):
        """ "Stay signed in" is the member's answer, not an error: DOT raises LogoutDenied for it and
        would show the page for an app's invalid request. The member goes to their account page,
        still signed in, and the app is not told anything (it has signed them out of itself)."""
        if isinstance(error, LogoutDenied):
            messages.info(self.request, "You are still signed in to Latch.")
            return redirect(settings.LOGIN_REDIRECT_URL)
        return super().error_response(error)
