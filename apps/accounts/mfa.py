"""Two-factor sign-in (allauth.mfa): how a session authenticated, the staff requirement, the audit trail.

How a session authenticated comes from allauth's authentication records (`get_authentication_records`):
one entry per step this session completed for its member, the sign-in's password or passkey and
the second factor, and every later reauthentication. `session_authentication()` turns them into
RFC 8176 `amr` values; the id_token (apps/oauth) and the staff requirement below both read it.

The staff requirement (LATCH_REQUIRE_MFA_FOR_STAFF) is a middleware, not an AdminSite hook:
- it needs no AdminSite subclass (which would mean replacing `django.contrib.admin` in
  INSTALLED_APPS by a custom AdminConfig), so every ModelAdmin registered on `admin.site`, DOT's
  included, is covered as it is;
- it can answer the admin's own login view, which must not be a way around the requirement: that
  form checks only a password, so it is never shown and sends everyone to allauth's sign-in page
  (which asks for the second factor), keeping `next`. allauth's `secure_admin_login` decorator
  would need `admin.site.login` patched in config/urls.py, and still hands a signed-in staff
  member's POST to the password form;
- the decision needs the session and the messages framework, which a middleware placed after
  AuthenticationMiddleware and MessageMiddleware has.
It looks only at views in the "admin" URL namespace; every other page is left alone.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY, get_authentication_records
from allauth.account.internal.flows import login as login_flows
from allauth.account.internal.userkit import user_id_to_str
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from apps.audit.models import AuditEvent
from apps.audit.services import record

# RFC 8176 §2 values Latch issues.
PASSWORD = "pwd"  # the member's password
ONE_TIME_PASSWORD = "otp"  # an authenticator app's code (RFC 6238), or a single-use recovery code
HARDWARE_KEY = "hwk"  # a WebAuthn signature: a security key or a passkey
USER_PRESENCE = "user"  # the passkey's authenticator verified the member (PIN or biometric)
MULTIPLE_FACTORS = "mfa"

# The factor each kind of proof stands for: two different ones make a sign-in multi-factor.
KNOWLEDGE, POSSESSION, VERIFICATION = "knowledge", "possession", "verification"


@dataclass(frozen=True)
class SessionAuthentication:
    """How the member of a session proved who they are: `amr` values and whether two factors did."""

    amr: tuple[str, ...]
    multi_factor: bool

    @property
    def has_password(self) -> bool:
        return PASSWORD in self.amr


def _proofs(entry: dict) -> tuple[set[str], set[str]]:
    """(amr values, factors) of one allauth authentication record."""
    method, kind = entry.get("method"), entry.get("type")
    if method == "password":
        return {PASSWORD}, {KNOWLEDGE}
    if method != "mfa":
        # "upstream" (apps/upstream/views.py): another provider vouched for the member, by means Latch
        # cannot see; RFC 8176 registers no value for that, so no amr and no factor (acr: password
        # level). Login by code and social accounts: not enabled in Latch.
        return set(), set()
    if kind in (Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES):
        # A recovery code stands in for the authenticator app: a one-time password kept offline.
        return {ONE_TIME_PASSWORD}, {POSSESSION}
    if kind == Authenticator.Type.WEBAUTHN:
        if entry.get("passwordless"):
            # allauth requires user verification for a passkey sign-in (fido2 refuses the
            # assertion otherwise): the key and the PIN or biometric that unlocked it, two factors.
            return {HARDWARE_KEY, USER_PRESENCE}, {POSSESSION, VERIFICATION}
        return {HARDWARE_KEY}, {POSSESSION}
    return set(), set()


def authentication_from_records(records: Iterable[dict]) -> SessionAuthentication:
    amr: set[str] = set()
    factors: set[str] = set()
    for entry in records:
        values, kinds = _proofs(entry)
        amr |= values
        factors |= kinds
    multi_factor = len(factors) >= 2
    if multi_factor:
        amr.add(MULTIPLE_FACTORS)
    return SessionAuthentication(amr=tuple(sorted(amr)), multi_factor=multi_factor)


def session_authentication(request: HttpRequest) -> SessionAuthentication:
    """How this session's member authenticated; nothing known for a session allauth did not sign in."""
    return authentication_from_records(get_authentication_records(request, request.user))


def restore_authentication_records(request: HttpRequest, user, records: list[dict]) -> None:
    """Put `records` back as the session's authentication records for `user` (after a flush).

    allauth offers no public way to write them: this sets the two session keys its
    record_authentication() writes, the user's id under a private name (pinned by
    tests/oauth/test_fresh_sign_in.py, which reads them back through get_authentication_records).
    """
    request.session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    request.session[login_flows._AUTHENTICATION_METHODS_USER_SESSION_KEY] = user_id_to_str(user)


def second_factor_redirect(request: HttpRequest, next_url: str) -> HttpResponseRedirect:
    """Send a signed-in member to prove a second factor, then back to `next_url`.

    allauth's reauthentication with an authenticator code (or a security key, for a member who has
    only those) adds the second factor to this session. A session without a password on record
    (signed in some other way) would still lack a first factor afterwards, so that member signs
    in again from the start, as OIDC's prompt=login does. That session is not ended here (a GET
    must never sign anyone out): the new sign-in replaces it (services.session_replace_for_sign_in),
    and coming back without one only leads here again.
    """
    if not session_authentication(request).has_password:
        return redirect_to_login(next_url, reverse("account_login"))
    # The member's main second factor first; the page links to the other (recovery codes included).
    by_key = not is_mfa_enabled(request.user, [Authenticator.Type.TOTP]) and is_mfa_enabled(
        request.user, [Authenticator.Type.WEBAUTHN]
    )
    view = "mfa_reauthenticate_webauthn" if by_key else "mfa_reauthenticate"
    return HttpResponseRedirect(f"{reverse(view)}?{urlencode({'next': next_url})}")


# --- Staff must use two-factor authentication ------------------------------------------------


def staff_must_use_mfa() -> bool:
    return getattr(settings, "LATCH_REQUIRE_MFA_FOR_STAFF", True)


class StaffSecondFactorMiddleware:
    """The admin only for staff who signed in with two factors (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or match.namespace != "admin":
            return None
        if match.url_name == "login":
            return self._admin_login(request)
        user = request.user
        if match.url_name == "logout" or not staff_must_use_mfa():
            return None
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return None  # the admin itself turns them away
        if not is_mfa_enabled(user):
            messages.warning(
                request,
                "The admin needs two-factor authentication: set up an authenticator app or a "
                "security key first, then open the admin again.",
            )
            return redirect("mfa_index")
        if session_authentication(request).multi_factor:
            return None
        messages.info(request, "Confirm it is you with your second factor to open the admin.")
        return second_factor_redirect(request, request.get_full_path())

    @staticmethod
    def _admin_login(request: HttpRequest) -> HttpResponse:
        """Never Django's admin login form (a password alone): Latch's sign-in page, keeping `next`."""
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
            next_url = reverse("admin:index")
        if request.user.is_authenticated and not request.user.is_staff:
            # Signed in, but not an administrator: signing in again would only come back here.
            messages.error(request, "Your account has no access to the admin.")
            return redirect("account_home")
        if request.user.is_authenticated:
            return HttpResponseRedirect(next_url)
        return redirect_to_login(next_url, reverse("account_login"))


# --- Audit: every change to a member's second factors, and every use of one -------------------


def _authenticator_details(authenticator: Authenticator) -> dict[str, str]:
    details = {"type": authenticator.type}
    if authenticator.type == Authenticator.Type.WEBAUTHN:
        details["name"] = authenticator.wrap().name
    return details


@receiver(mfa_signals.authenticator_added)
def audit_authenticator_added(sender, request, user, authenticator, **kwargs) -> None:
    record(AuditEvent.Event.MFA_ADDED, request=request, user=user, **_authenticator_details(authenticator))


@receiver(mfa_signals.authenticator_removed)
def audit_authenticator_removed(sender, request, user, authenticator, **kwargs) -> None:
    record(AuditEvent.Event.MFA_REMOVED, request=request, user=user, **_authenticator_details(authenticator))


@receiver(mfa_signals.authenticator_reset)
def audit_authenticator_reset(sender, request, user, authenticator, **kwargs) -> None:
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        record(AuditEvent.Event.RECOVERY_CODES_GENERATED, request=request, user=user)


# What the factor was used for. (A detail key such as "passwordless" would be dropped by the audit
# log's secret filter, apps/audit/services.py SECRET_LIKE; the values are not filtered.)
SIGN_IN, PASSKEY_SIGN_IN, REAUTHENTICATION = "sign_in", "passkey_sign_in", "reauthentication"


@receiver(mfa_signals.authenticator_used)
def audit_authenticator_used(
    sender, request, user, authenticator, reauthenticated=False, passwordless=False, **kwargs
) -> None:
    purpose = REAUTHENTICATION if reauthenticated else PASSKEY_SIGN_IN if passwordless else SIGN_IN
    record(
        AuditEvent.Event.MFA_SUCCEEDED,
        request=request,
        user=user,
        purpose=purpose,
        **_authenticator_details(authenticator),
    )


@receiver(mfa_signals.authentication_failed)
def audit_authentication_failed(
    sender, request, user, authenticator, reauthentication=False, **kwargs
) -> None:
    record(
        AuditEvent.Event.MFA_FAILED,
        request=request,
        user=user,
        purpose=REAUTHENTICATION if reauthentication else SIGN_IN,
        **_authenticator_details(authenticator),
    )
