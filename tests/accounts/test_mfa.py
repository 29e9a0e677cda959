"""Two-factor sign-in: authenticator app, recovery codes, security keys and passkeys, their pages, their
audit trail, and the second factor staff need for the admin."""

import re
from html.parser import HTMLParser

import pytest
from allauth.mfa.models import Authenticator
from django.http import HttpRequest
from django.test import Client, override_settings

from apps.accounts.mfa import authentication_from_records, session_authentication
from apps.accounts.models import User
from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.mfa import (
    SoftwareAuthenticator,
    activate_totp,
    add_key,
    mark_second_factor,
    recovery_codes,
    sign_in,
    sign_in_with_code,
    sign_in_with_passkey,
    signed_in_with_a_passkey,
    staff_browser,
    totp_code,
)
from tests.config.test_headers import SITE_POLICY

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return UserFactory(email="ada@example.org")


def events(name: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event=name).order_by("pk"))


def signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def reauthenticate_with_password(client: Client, next_url: str):
    """allauth asks for the password again before a change to the member's authenticators."""
    return client.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": next_url})


def authentication_of(client: Client):
    """How allauth recorded this client's sign-in, as Latch reads it."""
    request = HttpRequest()
    request.session = client.session
    request.user = User.objects.get(pk=signed_in_user_id(client))
    return session_authentication(request)


def added_through_the_page(member, capture_on_commit, *, passkey: bool) -> SoftwareAuthenticator:
    browser = Client()
    sign_in(browser, member)
    key = SoftwareAuthenticator(user_verification=passkey)
    with capture_on_commit(execute=True):
        assert add_key(browser, key, passkey=passkey).status_code == 302
    return key


@pytest.fixture
def member_with_key(member, django_capture_on_commit_callbacks):
    """The member added a security key (not a passkey) through the page; returns (member, key)."""
    return member, added_through_the_page(member, django_capture_on_commit_callbacks, passkey=False)


@pytest.fixture
def member_with_passkey(member, django_capture_on_commit_callbacks):
    """The member added a passkey (it verifies them: PIN or biometric); returns (member, key)."""
    return member, added_through_the_page(member, django_capture_on_commit_callbacks, passkey=True)


# --- How a session authenticated (RFC 8176 amr) -------------------------------------------------


@pytest.mark.parametrize(
    ("records", "amr", "multi_factor"),
    [
        ([], (), False),
        ([{"method": "password"}], ("pwd",), False),
        ([{"method": "password"}, {"method": "mfa", "type": "totp"}], ("mfa", "otp", "pwd"), True),
        ([{"method": "password"}, {"method": "mfa", "type": "recovery_codes"}], ("mfa", "otp", "pwd"), True),
        ([{"method": "password"}, {"method": "mfa", "type": "webauthn"}], ("hwk", "mfa", "pwd"), True),
        ([{"method": "mfa", "type": "webauthn", "passwordless": True}], ("hwk", "mfa", "user"), True),
        # A second factor alone (say, reauthenticated in a session signed in some other way) is one.
        ([{"method": "mfa", "type": "totp", "reauthenticated": True}], ("otp",), False),
        ([{"method": "password"}, {"method": "password", "reauthenticated": True}], ("pwd",), False),
        ([{"method": "code"}, {"method": "socialaccount"}], (), False),
    ],
)
def test_amr_values_name_each_method_and_mfa_needs_two_kinds_of_factor(records, amr, multi_factor):
    authentication = authentication_from_records(records)

    assert (authentication.amr, authentication.multi_factor) == (amr, multi_factor)


# --- The pages ---------------------------------------------------------------------------------

EXECUTABLE_INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*\stype=\"application/json\")[^>]*>", re.IGNORECASE
)


class FormControls(HTMLParser):
    """The ids of the visible form controls of a page, and the ids its <label for> point at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[str | None] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "label" and attributes.get("for"):
            self.labelled.add(attributes["for"])
        elif tag in ("input", "textarea", "select") and attributes.get("type") not in ("hidden", "submit"):
            self.controls.append(attributes.get("id"))


def assert_page_is_finished(response) -> None:
    """200 under the site's CSP, no script that runs inline, a label for every control."""
    assert response.status_code == 200, response.get("Location")
    assert response["Content-Security-Policy"] == SITE_POLICY
    html = response.content.decode()
    assert EXECUTABLE_INLINE_SCRIPT.findall(html) == []
    assert " style=" not in html
    parser = FormControls()
    parser.feed(html)
    assert parser.controls, "no form control"
    assert [control for control in parser.controls if control not in parser.labelled] == []


@pytest.fixture
def manager(member):
    """A browser whose member has every kind of authenticator and just confirmed their password."""
    browser = Client()
    browser.force_login(member)
    mark_second_factor(browser, member)  # an authenticator app and recovery codes
    key = SoftwareAuthenticator()
    assert add_key(browser, key, passkey=True).status_code == 302  # confirms the password first
    browser.key_pk = Authenticator.objects.get(user=member, type=Authenticator.Type.WEBAUTHN).pk
    return browser


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/2fa/recovery-codes/",
        "/accounts/2fa/webauthn/add/",
        "/accounts/2fa/webauthn/keys/{key}/edit/",
        "/accounts/2fa/reauthenticate/",
    ],
)
def test_management_pages_render_under_the_site_policy_with_labelled_controls(manager, path):
    assert_page_is_finished(manager.get(path.format(key=manager.key_pk)))


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/2fa/",
        "/accounts/2fa/totp/deactivate/",
        "/accounts/2fa/webauthn/",
        "/accounts/2fa/webauthn/keys/{key}/remove/",
        "/accounts/2fa/recovery-codes/generate/",
        "/accounts/2fa/webauthn/reauthenticate/",
    ],
)
def test_pages_without_inputs_render_under_the_site_policy(manager, path):
    response = manager.get(path.format(key=manager.key_pk))

    assert response.status_code == 200, response.get("Location")
    assert response["Content-Security-Policy"] == SITE_POLICY
    assert EXECUTABLE_INLINE_SCRIPT.findall(response.content.decode()) == []


def test_index_says_what_is_on(manager):
    html = manager.get("/accounts/2fa/").content.decode()

    assert "Two-factor authentication is <strong>on</strong>" in html
    assert "Turn off the authenticator app" in html
    assert "You have added 1 key: Blue key." in html
    assert "10 of your 10 codes are unused." in html


def test_index_for_a_member_without_authenticators_offers_to_set_them_up(member):
    browser = Client()
    browser.force_login(member)

    html = browser.get("/accounts/2fa/").content.decode()

    assert "Two-factor authentication is <strong>off</strong>" in html
    assert 'href="/accounts/2fa/totp/activate/"' in html
    assert 'href="/accounts/2fa/webauthn/add/"' in html
    assert "/accounts/2fa/recovery-codes/" not in html


def test_activation_page_shows_the_qr_code_as_a_data_image_and_the_key_to_type(member):
    browser = Client()
    sign_in(browser, member)
    reauthenticate_with_password(browser, "/accounts/2fa/totp/activate/")

    page = browser.get("/accounts/2fa/totp/activate/")

    assert_page_is_finished(page)
    html = page.content.decode()
    assert re.search(r'<img class="qr-code" src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+"', html)
    assert 'alt="QR code that adds your Latch account to an authenticator app"' in html
    assert f'value="{page.context["form"].secret}" readonly' in html


def test_second_step_page_renders_and_offers_the_key_only_to_members_with_one(member_with_key):
    member, _ = member_with_key
    other = UserFactory(email="grace@example.org")
    activate_totp(other)
    with_key, without_key = Client(), Client()
    sign_in(with_key, member)
    sign_in(without_key, other)

    key_page = with_key.get("/accounts/2fa/authenticate/")
    code_page = without_key.get("/accounts/2fa/authenticate/")

    assert_page_is_finished(key_page)
    assert_page_is_finished(code_page)
    assert 'id="mfa_webauthn_authenticate"' in key_page.content.decode()
    assert 'id="mfa_webauthn_authenticate"' not in code_page.content.decode()


def test_sign_in_page_offers_a_passkey(client):
    response = client.get("/accounts/login/")

    assert_page_is_finished(response)
    html = response.content.decode()
    assert 'id="passkey_login"' in html
    assert '<form id="mfa_login" action="/accounts/2fa/webauthn/login/" method="post">' in html
    assert '<script src="/static/js/webauthn-errors.js"></script>' in html


# --- Authenticator app ---------------------------------------------------------------------------


def test_activating_an_authenticator_app_needs_the_password_then_a_correct_code(
    member, django_capture_on_commit_callbacks
):
    browser = Client()
    sign_in(browser, member)

    asked = browser.get("/accounts/2fa/totp/activate/")
    confirmed = reauthenticate_with_password(browser, "/accounts/2fa/totp/activate/")
    secret = browser.get("/accounts/2fa/totp/activate/").context["form"].secret
    with django_capture_on_commit_callbacks(execute=True):
        activated = browser.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})

    assert asked["Location"] == "/accounts/reauthenticate/?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F"
    assert confirmed["Location"] == "/accounts/2fa/totp/activate/"
    assert activated["Location"] == "/accounts/2fa/recovery-codes/"
    assert set(Authenticator.objects.filter(user=member).values_list("type", flat=True)) == {
        "totp",
        "recovery_codes",
    }
    assert [(e.actor_user, e.details) for e in events("mfa.added")] == [
        (member, {"type": "totp"}),
        (member, {"type": "recovery_codes"}),
    ]


def test_a_wrong_code_does_not_activate_the_authenticator_app(member):
    browser = Client()
    sign_in(browser, member)
    reauthenticate_with_password(browser, "/accounts/2fa/totp/activate/")
    secret = browser.get("/accounts/2fa/totp/activate/").context["form"].secret
    wrong = f"{(int(totp_code(secret)) + 1) % 1_000_000:06d}"

    response = browser.post("/accounts/2fa/totp/activate/", {"code": wrong})

    assert response.status_code == 200
    assert "Incorrect code." in response.content.decode()
    assert not Authenticator.objects.filter(user=member).exists()


def test_signing_in_with_an_authenticator_app_takes_the_password_and_the_code(member):
    secret = activate_totp(member)
    browser = Client(REMOTE_ADDR="203.0.113.30")

    password_only = browser.post("/accounts/login/", {"login": member.email, "password": PASSWORD})
    assert signed_in_user_id(browser) is None  # the password alone signs nobody in
    response = browser.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})

    assert password_only["Location"] == "/accounts/2fa/authenticate/"
    assert response["Location"] == "/accounts/"
    assert signed_in_user_id(browser) == str(member.pk)
    assert authentication_of(browser).amr == ("mfa", "otp", "pwd")
    (used,) = events("mfa.succeeded")
    assert (used.actor_user, used.ip) == (member, "203.0.113.30")
    assert used.details == {"type": "totp", "purpose": "sign_in"}


def test_a_wrong_code_fails_signs_nobody_in_and_changes_nothing(member):
    secret = activate_totp(member)
    totp = Authenticator.objects.get(user=member, type=Authenticator.Type.TOTP)
    browser = Client()
    wrong = f"{(int(totp_code(secret)) + 1) % 1_000_000:06d}"

    response = sign_in_with_code(browser, member, wrong)

    assert response.status_code == 200
    assert "Incorrect code." in response.content.decode()
    assert signed_in_user_id(browser) is None
    totp.refresh_from_db()
    assert totp.last_used_at is None
    assert len(recovery_codes(member)) == 10
    assert not events("mfa.succeeded")
    assert not events("login.succeeded")
    (failed,) = events("mfa.failed")
    assert (failed.actor_user, failed.details) == (member, {"type": "totp", "purpose": "sign_in"})


def test_an_authenticator_code_cannot_be_replayed(member):
    secret = activate_totp(member)
    code = totp_code(secret)
    sign_in_with_code(Client(), member, code)

    replay = sign_in_with_code(Client(), member, code)

    assert replay.status_code == 200
    assert "Incorrect code." in replay.content.decode()


def test_turning_off_the_authenticator_app_removes_it_and_its_recovery_codes(
    member, django_capture_on_commit_callbacks
):
    activate_totp(member)
    browser = Client()
    browser.force_login(member)
    mark_second_factor(browser, member)
    reauthenticate_with_password(browser, "/accounts/2fa/")

    response = browser.post("/accounts/2fa/totp/deactivate/")

    assert response["Location"] == "/accounts/2fa/"
    assert not Authenticator.objects.filter(user=member).exists()
    assert sorted(e.details["type"] for e in events("mfa.removed")) == ["recovery_codes", "totp"]


# --- Recovery codes ------------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once_and_not_twice(member):
    activate_totp(member)
    code = recovery_codes(member)[0]
    first = Client()

    response = sign_in_with_code(first, member, code)

    assert response["Location"] == "/accounts/"
    assert authentication_of(first).amr == ("mfa", "otp", "pwd")
    assert code not in recovery_codes(member)
    assert len(recovery_codes(member)) == 9
    second = Client()
    replay = sign_in_with_code(second, member, code)
    assert replay.status_code == 200
    assert "Incorrect code." in replay.content.decode()
    assert signed_in_user_id(second) is None


def test_generating_new_recovery_codes_replaces_the_old_ones_and_is_audited(
    member, django_capture_on_commit_callbacks
):
    activate_totp(member)
    old = recovery_codes(member)
    browser = Client()
    browser.force_login(member)
    mark_second_factor(browser, member)
    reauthenticate_with_password(browser, "/accounts/2fa/")

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/accounts/2fa/recovery-codes/generate/")

    assert response["Location"] == "/accounts/2fa/recovery-codes/"
    assert set(recovery_codes(member)).isdisjoint(old)
    (generated,) = events("mfa.recovery_codes_generated")
    assert generated.actor_user == member
    download = browser.get("/accounts/2fa/recovery-codes/download/")
    assert download["Content-Type"].startswith("text/plain")
    assert download.content.decode().split() == recovery_codes(member)


# --- Security keys and passkeys -----------------------------------------------------------------


def test_adding_a_security_key_runs_the_webauthn_ceremony_and_is_audited(member_with_key):
    member, _ = member_with_key

    (key,) = Authenticator.objects.filter(user=member, type=Authenticator.Type.WEBAUTHN)
    assert key.wrap().name == "Blue key"
    assert key.wrap().is_passwordless is False
    added = [e.details for e in events("mfa.added")]
    assert added == [{"type": "webauthn", "name": "Blue key"}, {"type": "recovery_codes"}]


def test_a_credential_for_another_challenge_is_not_added(member):
    browser = Client()
    sign_in(browser, member)
    reauthenticate_with_password(browser, "/accounts/2fa/")
    key = SoftwareAuthenticator()
    stale = browser.get("/accounts/2fa/webauthn/add/").context["js_data"]["creation_options"]
    browser.get("/accounts/2fa/webauthn/add/")  # a new challenge replaces the first

    response = browser.post(
        "/accounts/2fa/webauthn/add/", {"name": "Blue key", "credential": key.create(stale)}
    )

    assert response.status_code == 200
    assert not Authenticator.objects.filter(user=member).exists()


def test_signing_in_with_password_and_security_key(member_with_key):
    member, key = member_with_key
    browser = Client()
    sign_in(browser, member)
    page = browser.get("/accounts/2fa/authenticate/")

    response = browser.post(
        "/accounts/2fa/authenticate/", {"credential": key.get(page.context["js_data"]["request_options"])}
    )

    assert response["Location"] == "/accounts/"
    assert authentication_of(browser).amr == ("hwk", "mfa", "pwd")


def test_signing_in_with_a_passkey_alone(member_with_passkey):
    member, key = member_with_passkey
    browser = Client()

    response = sign_in_with_passkey(browser, key)

    assert response["Location"] == "/accounts/"
    assert signed_in_user_id(browser) == str(member.pk)
    assert authentication_of(browser).amr == ("hwk", "mfa", "user")
    (used,) = [e for e in events("mfa.succeeded") if e.details["purpose"] == "passkey_sign_in"]
    assert (used.actor_user, used.details["name"]) == (member, "Blue key")


def test_a_passkey_that_did_not_verify_the_member_signs_nobody_in(member_with_passkey):
    _, key = member_with_passkey
    key.user_verification = False  # touched, but no PIN or biometric
    browser = Client()

    response = sign_in_with_passkey(browser, key)

    assert response["Location"] == "/accounts/login/"
    assert signed_in_user_id(browser) is None


def test_a_security_key_can_be_renamed_and_removed(member_with_key, django_capture_on_commit_callbacks):
    member, _ = member_with_key
    (key,) = Authenticator.objects.filter(user=member, type=Authenticator.Type.WEBAUTHN)
    browser = Client()
    browser.force_login(member)
    mark_second_factor(browser, member)
    reauthenticate_with_password(browser, "/accounts/2fa/")

    renamed = browser.post(f"/accounts/2fa/webauthn/keys/{key.pk}/edit/", {"name": "Keyring"})
    listing = browser.get("/accounts/2fa/webauthn/").content.decode()
    removed = browser.post(f"/accounts/2fa/webauthn/keys/{key.pk}/remove/")

    assert renamed["Location"] == "/accounts/2fa/webauthn/"
    assert 'Remove<span class="visually-hidden"> Keyring</span>' in listing
    assert removed["Location"] == "/accounts/2fa/webauthn/"
    assert not Authenticator.objects.filter(user=member, type=Authenticator.Type.WEBAUTHN).exists()
    assert [e.details for e in events("mfa.removed")] == [{"type": "webauthn", "name": "Keyring"}]


# --- Staff need a second factor for the admin -----------------------------------------------------


@pytest.fixture
def staff():
    return UserFactory(email="root@example.org", is_staff=True, is_superuser=True)


def test_staff_without_an_authenticator_are_sent_to_set_one_up(staff):
    browser = Client()
    sign_in(browser, staff)

    response = browser.get("/admin/")
    page = browser.get(response["Location"])

    assert response["Location"] == "/accounts/2fa/"
    assert "The admin needs two-factor authentication" in page.content.decode()


def test_staff_signed_in_with_a_password_only_confirm_their_second_factor_first(staff):
    browser = Client()
    sign_in(browser, staff)
    secret = activate_totp(staff)  # set up after signing in: this session has no second factor

    response = browser.get("/admin/auditevent/?q=x")
    confirm = browser.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret), "next": "/admin/"})
    admin = browser.get("/admin/")

    assert response["Location"] == "/accounts/2fa/reauthenticate/?next=%2Fadmin%2Fauditevent%2F%3Fq%3Dx"
    assert confirm["Location"] == "/admin/"
    assert admin.status_code == 200


def test_staff_who_signed_in_with_two_factors_use_the_admin(staff):
    secret = activate_totp(staff)
    browser = Client()
    sign_in_with_code(browser, staff, totp_code(secret), next="/admin/")

    assert browser.get("/admin/").status_code == 200
    assert browser.get("/admin/oauth/application/").status_code == 200


def test_staff_signed_in_with_a_passkey_use_the_admin(staff):
    browser = signed_in_with_a_passkey(staff)

    assert browser.get("/admin/").status_code == 200


def test_a_session_without_a_password_on_record_signs_in_again_without_being_signed_out_first(staff):
    activate_totp(staff)
    browser = Client()
    browser.force_login(staff)  # no authentication records at all

    response = browser.get("/admin/")

    assert response["Location"] == "/accounts/login/?next=/admin/"
    # A GET never signs anyone out (any page could trigger it); the new sign-in replaces the session.
    assert signed_in_user_id(browser) == str(staff.pk)
    assert browser.get("/admin/")["Location"] == "/accounts/login/?next=/admin/"


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_admin_login_page_is_no_way_around_the_second_factor(staff, method):
    activate_totp(staff)
    browser = Client()
    path = "/admin/login/?next=/admin/checkout/"

    if method == "get":
        response = browser.get(path)
    else:
        response = browser.post(path, {"username": staff.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/checkout/"
    assert signed_in_user_id(browser) is None
    assert not events("login.succeeded")


def test_the_admin_login_page_keeps_only_a_local_next(staff):
    response = Client().get("/admin/login/", {"next": "https://evil.example.com/"})

    assert response["Location"] == "/accounts/login/?next=/admin/"


def test_the_admin_sends_a_signed_in_member_who_is_not_staff_to_their_account(member):
    browser = Client()
    sign_in(browser, member)

    response = browser.get("/admin/", follow=True)

    assert response.redirect_chain[-1][0] == "/accounts/"
    assert "Your account has no access to the admin." in response.content.decode()


def test_pages_outside_the_admin_do_not_ask_staff_for_a_second_factor(staff):
    browser = Client()
    sign_in(browser, staff)

    assert browser.get("/accounts/").status_code == 200


@override_settings(LATCH_REQUIRE_MFA_FOR_STAFF=False)
def test_with_the_requirement_off_a_password_opens_the_admin_but_its_login_page_stays_closed(staff):
    browser = Client()
    sign_in(browser, staff)

    assert browser.get("/admin/").status_code == 200
    assert Client().get("/admin/login/")["Location"] == "/accounts/login/?next=/admin/"


def test_the_staff_test_browser_is_signed_in_with_two_factors(staff):
    browser = staff_browser(staff)

    assert authentication_of(browser).multi_factor
    assert browser.get("/admin/").status_code == 200
