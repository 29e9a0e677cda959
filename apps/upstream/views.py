"""The member's pages: sign in with a provider, link and unlink it, connect accounts and disconnect them.

One callback per provider (`/accounts/upstream/<slug>/callback`, the redirect URI to register there)
finishes every flow; the session remembers what each was for (apps/upstream/flow.py). Any failure
ends with a message and an audit event and changes nothing: a sign-in on the login page, a signed-in
member's link on /accounts/ and a connect on /accounts/connections.
"""

from typing import Any
from urllib.parse import urlencode

from allauth.account.internal.flows.login import record_authentication
from allauth.account.utils import perform_login
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.audit.models import AuditEvent
from apps.audit.services import record
from apps.upstream import flow, selectors, services
from apps.upstream.flow import FlowError, Purpose
from apps.upstream.models import Connection, UpstreamProvider

# allauth's authentication record for a sign-in through a provider; apps/accounts/mfa.py maps it
# to no RFC 8176 `amr` value (the registry has none for "another identity provider said so").
UPSTREAM_METHOD = "upstream"


def local_url(request: HttpRequest, url: str) -> str:
    """`url` if it is a path on this site (no scheme, no other host), else ""."""
    if url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        return url
    return ""


def _failed(request: HttpRequest, error: FlowError) -> HttpResponse:
    user = request.user if request.user.is_authenticated else None
    services.flow_failed(request=request, error=error, user=user)
    messages.error(request, error.message)
    if error.purpose == Purpose.CONNECT:
        return redirect("upstream:connections")
    if user is not None and error.purpose != Purpose.SIGN_IN:
        return redirect("account_home")
    return redirect("account_login")


def _enabled(slug: str) -> UpstreamProvider:
    return get_object_or_404(UpstreamProvider, slug=slug, enabled=True)


# --- Signing in -----------------------------------------------------------------------------------


@require_GET
def sign_in(request: HttpRequest, slug: str) -> HttpResponse:
    """Leave for the provider to sign in to Latch (the login page's buttons).

    A member who is signed in already is signing in again, as with the password form on the same
    page (a fresh sign-in for prompt=login or max_age, or another member): the provider is asked to
    authenticate them anew, and the sign-in replaces the session when it completes
    (AccountAdapter.pre_login), so it meets the pending fresh sign-in.
    """
    provider = get_object_or_404(UpstreamProvider, slug=slug, enabled=True, allow_sign_in=True)
    url = flow.begin(
        request,
        provider,
        purpose=Purpose.SIGN_IN,
        scopes=selectors.sign_in_scopes(provider),
        next_url=local_url(request, request.GET.get("next", "")),
        fresh_authentication=request.user.is_authenticated,
    )
    return HttpResponseRedirect(url)


def _sign_in_member(
    request: HttpRequest, user: Any, provider: UpstreamProvider, next_url: str, *, with_password: bool = False
) -> HttpResponse:
    """Sign in through allauth, so a member with two-factor authentication is asked for it too."""
    record(AuditEvent.Event.UPSTREAM_SIGN_IN, request=request, user=user, provider=provider.slug)
    record_authentication(request, user, method=UPSTREAM_METHOD, provider=provider.slug)
    if with_password:
        record_authentication(request, user, method="password", email=user.email)
    return perform_login(request, user, redirect_url=next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


@require_GET
def callback(request: HttpRequest, slug: str) -> HttpResponse:
    """The provider's answer, for every flow this browser started with it."""
    provider = get_object_or_404(UpstreamProvider, slug=slug)
    try:
        pending = flow.take_pending(request, provider)
        if not provider.enabled or (pending.purpose == Purpose.SIGN_IN and not provider.allow_sign_in):
            raise FlowError(
                "provider_disabled",
                f"{provider.name} cannot be used at the moment.",
                provider=slug,
                purpose=pending.purpose,
            )
        signed_in = str(request.user.pk) if request.user.is_authenticated else ""
        if pending.user != signed_in:
            raise FlowError(
                "signed_in_member_changed",
                "You signed in or out in the meantime. Please start again.",
                provider=slug,
                purpose=pending.purpose,
            )
        result = flow.finish(request, provider, pending)
        if pending.purpose == Purpose.CONNECT:
            return _connected(request, provider, result)
        if pending.purpose == Purpose.LINK:
            return _linked(request, provider, result)
        outcome = services.sign_in_member(request=request, provider=provider, result=result)
    except FlowError as error:
        return _failed(request, error)
    if isinstance(outcome, services.LinkOffer):
        services.link_offer_remember(
            request=request,
            provider=provider,
            subject=result.subject,
            user=outcome.user,
            next_url=pending.next,
        )
        return redirect("upstream:link-confirm", slug=slug)
    return _sign_in_member(request, outcome, provider, pending.next)


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="Your Latch password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def link_confirm(request: HttpRequest, slug: str) -> HttpResponse:
    """A first sign-in with a verified email that is a Latch member's: link after their Latch password."""
    provider = _enabled(slug)
    offer = services.link_offer(request, provider)
    if offer is None:
        messages.error(request, "That sign-in has expired. Please start again.")
        return redirect("account_login")
    user, subject, next_url = offer
    form = PasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if authenticate(request, email=user.email, password=form.cleaned_data["password"]) == user:
            services.link_offer_forget(request)
            try:
                services.identity_link(
                    request=request, user=user, provider=provider, subject=subject, how="password_confirmed"
                )
            except FlowError as error:
                return _failed(request, error)
            messages.success(request, f"{provider.name} is linked: next time it signs you in directly.")
            return _sign_in_member(request, user, provider, next_url, with_password=True)
        left = services.link_offer_attempt_failed(request)
        if not left:
            refused = FlowError(
                "password_not_confirmed",
                "That password was wrong too many times. Please start again.",
                provider=slug,
                purpose=Purpose.SIGN_IN,
            )
            return _failed(request, refused)
        form.add_error("password", f"That is not the password of this account ({left} tries left).")
    return render(
        request, "upstream/link_confirm.html", {"provider": provider, "email": user.email, "form": form}
    )


# --- Linking and unlinking, signed in -------------------------------------------------------------


@login_required
@require_POST
def link(request: HttpRequest, slug: str) -> HttpResponse:
    provider = get_object_or_404(UpstreamProvider, slug=slug, enabled=True, allow_sign_in=True)
    url = flow.begin(request, provider, purpose=Purpose.LINK, scopes=selectors.sign_in_scopes(provider))
    return HttpResponseRedirect(url)


def _linked(request: HttpRequest, provider: UpstreamProvider, result: flow.Result) -> HttpResponse:
    services.identity_link(
        request=request, user=request.user, provider=provider, subject=result.subject, how="signed_in"
    )
    messages.success(request, f"You can now sign in with {provider.name}.")
    return redirect("account_home")


@login_required
@require_POST
def unlink(request: HttpRequest, slug: str) -> HttpResponse:
    provider = get_object_or_404(UpstreamProvider, slug=slug)
    try:
        removed = services.identity_unlink(request=request, user=request.user, provider=provider)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("account_home")
    if removed:
        messages.success(request, f"{provider.name} no longer signs you in to Latch.")
    return redirect("account_home")


# --- Connected accounts ---------------------------------------------------------------------------


@login_required
def connections(request: HttpRequest) -> HttpResponse:
    """Every connection of the member: scopes, the apps that use it, status, last use; and Disconnect."""
    return render(
        request, "upstream/connections.html", {"connections": selectors.connections_for_member(request.user)}
    )


def connect_url(request: HttpRequest, provider: UpstreamProvider, scopes: list[str]) -> str:
    """Where an app sends the member to connect `provider` with `scopes` (absolute)."""
    query = urlencode({"scope": " ".join(scopes)}) if scopes else ""
    path = reverse("upstream:connect", args=[provider.slug])
    return request.build_absolute_uri(f"{path}?{query}" if query else path)


@login_required
@require_GET
def connect(request: HttpRequest, slug: str) -> HttpResponse:
    """Connect (or widen) the member's account at the provider: `?scope=a b&next=/path`."""
    provider = _enabled(slug)
    requested = list(dict.fromkeys(request.GET.get("scope", "").split()))
    unknown = sorted(set(requested) - set(provider.scope_names)) if provider.available_scopes else []
    if unknown:
        messages.error(request, f"{provider.name} does not offer: {', '.join(unknown)}.")
        return redirect("upstream:connections")
    scopes = services.connect_scopes(user=request.user, provider=provider, requested=requested)
    if not scopes:
        messages.error(request, f"Nothing to ask {provider.name} for.")
        return redirect("upstream:connections")
    next_url = local_url(request, request.GET.get("next", ""))
    url = flow.begin(request, provider, purpose=Purpose.CONNECT, scopes=scopes, next_url=next_url)
    return HttpResponseRedirect(url)


def _connected(request: HttpRequest, provider: UpstreamProvider, result: flow.Result) -> HttpResponse:
    services.connection_store(request=request, user=request.user, provider=provider, result=result)
    account = f" {result.account}" if result.account else ""
    messages.success(request, f"Your {provider.name} account{account} is connected.")
    return HttpResponseRedirect(result.pending.next or reverse("upstream:connections"))


@login_required
@require_POST
def disconnect(request: HttpRequest, slug: str) -> HttpResponse:
    connection = get_object_or_404(
        Connection.objects.select_related("provider"), user=request.user, provider_id=slug
    )
    actor = services.Actor(request=request, user=request.user, actor_type=AuditEvent.ActorType.USER)
    services.connection_revoke(connection=connection, actor=actor)
    messages.success(
        request,
        f"{connection.provider.name} is disconnected: Latch deleted its tokens; apps can no longer use it.",
    )
    return redirect("upstream:connections")
