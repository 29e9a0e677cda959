from allauth.account import views as allauth_views
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts import selectors, services
from apps.oauth import consent
from apps.oauth.models import Consent
from apps.upstream.selectors import sign_in_methods_for
from config.csp import extend_policy


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The member's own page: their record, their password, what happened on their account lately."""
    context = {
        "member": selectors.member_record(request.user),
        "security_events": selectors.recent_security_events(request.user),
        "browsers": services.signed_in_browsers(request, request.user),
        "sign_in_methods": sign_in_methods_for(request.user),
    }
    return render(request, "accounts/home.html", context)


def password_change(request: HttpRequest) -> HttpResponse:
    """allauth's page; a member without a password gets one by the reset mail instead.

    allauth would send them to its "set password" page, which Latch does not mount: the mailed
    link also shows that the member reads their mailbox (apps/accounts/signals.py).
    """
    if request.user.is_authenticated and not request.user.has_usable_password():
        return redirect("account_reset_password")
    return allauth_views.password_change(request)


@login_required
def connected_apps(request: HttpRequest) -> HttpResponse:
    """The apps the member has allowed, what each may do, and a way to take it back."""
    response = render(request, "accounts/apps.html", {"connections": selectors.connected_apps(request.user)})
    # Apps' logos are on their own https origins, as on the consent page (config/csp.py).
    extend_policy(response, {"img-src": ["https:"]})
    return response


@login_required
@require_POST
def disconnect_app(request: HttpRequest, client_id: str) -> HttpResponse:
    allowed = get_object_or_404(
        Consent.objects.select_related("application"), user=request.user, application__client_id=client_id
    )
    consent.revoke_consent(request.user, allowed.application)
    messages.success(
        request, f"{allowed.application.name} is disconnected; it can no longer use your account."
    )
    return redirect("account_apps")


@login_required
@require_POST
def end_session(request: HttpRequest) -> HttpResponse:
    if services.end_session(request, request.user, request.POST.get("session", "")):
        messages.success(request, "That browser is signed out.")
    else:
        messages.error(request, "That browser was already signed out.")
    return redirect("account_home")


@login_required
@require_POST
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    """Ends every session, this one too, and revokes the tokens of every app the member uses."""
    services.sign_out_everywhere(request, request.user)
    messages.success(
        request,
        "You are signed out everywhere. Apps you use will ask you to sign in again; "
        "the apps you allowed stay allowed.",
    )
    return redirect("account_login")
