"""Remembered and incremental consent, and OIDC's prompt / max_age, at the authorization endpoint."""

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.oauth import consent
from apps.oauth.models import AccessToken, Consent, Grant, RefreshToken
from tests.api.tokens import bearer
from tests.members.factories import member_with_login
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def allow(browser, application, scope: str, **extra):
    return flow.submit_consent(browser, application, scope, flow.pkce_pair()[1], allow=True, **extra)


def authorize(browser, application, scope: str, **extra):
    return flow.consent_page(browser, application, scope, flow.pkce_pair()[1], **extra)


def login_next(response) -> str:
    """The authorization URL the sign-in page will send the member back to."""
    assert response.status_code == 302, response.content
    location = urlparse(response["Location"])
    assert location.path == reverse("account_login")
    return parse_qs(location.query)["next"][0]


def next_query(next_url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(next_url).query)


def first_party_app():
    """An app the admin marked as needing no consent (Application.skip_authorization)."""
    application = ApplicationFactory()
    application.skip_authorization = True
    application.save(update_fields=["skip_authorization"])
    return application


def is_signed_in(browser) -> bool:
    return "_auth_user_id" in browser.session


# --- services ---------------------------------------------------------------------------------


def test_grant_merges_scopes_and_missing_scopes_lists_only_the_new_ones(member, application):
    consent.grant(member, application, ["openid", "member-read"])
    consent.grant(member, application, ["member-read", "email"])

    assert Consent.objects.get(user=member, application=application).scopes == [
        "openid",
        "member-read",
        "email",
    ]
    assert consent.missing_scopes(member, application, ["email", "group-read", "openid"]) == ["group-read"]
    assert consent.missing_scopes(member, ApplicationFactory(), ["openid"]) == ["openid"]


def test_touch_records_when_the_consent_was_last_used(member, application):
    stored = consent.grant(member, application, ["openid"])
    Consent.objects.filter(pk=stored.pk).update(last_used_at=None)

    consent.touch(member, application)

    assert Consent.objects.get(pk=stored.pk).last_used_at is not None


def test_revoke_consent_makes_the_apps_tokens_fail_everywhere_at_once(application):
    member = member_with_login()
    tokens = flow.obtain_tokens(member.user, application, scope="openid member-read offline_access")
    other_app = ApplicationFactory()
    kept = flow.obtain_tokens(member.user, other_app, scope="openid member-read")
    access = bearer(tokens["access_token"])
    assert Client().get("/api/v1/members/me", **access).status_code == 200
    assert Client().get("/oauth/userinfo", **access).status_code == 200

    consent.revoke_consent(member.user, application)

    assert Client().get("/api/v1/members/me", **access).status_code == 401
    assert Client().get("/oauth/userinfo", **access).status_code == 401
    refreshed = flow.refresh(Client(), application, tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    assert not Consent.objects.filter(user=member.user, application=application).exists()
    assert not AccessToken.objects.filter(user=member.user, application=application).exists()
    # Another app's consent and tokens are untouched.
    assert Client().get("/api/v1/members/me", **bearer(kept["access_token"])).status_code == 200
    assert Consent.objects.filter(user=member.user, application=other_app).exists()


def test_revoke_consent_revokes_access_tokens_outside_any_family_and_pending_codes(
    browser, member, application
):
    tokens = flow.obtain_tokens(member, application, scope="member-read")  # no refresh token, no family
    code, verifier = flow.obtain_code(browser, application, "member-read")  # issued, not redeemed

    consent.revoke_consent(member, application)

    assert Client().get("/api/v1/members/me", **bearer(tokens["access_token"])).status_code == 401
    assert flow.redeem(Client(), application, code, verifier).json()["error"] == "invalid_grant"
    assert not Grant.objects.filter(redeemed_at__isnull=True).exists()


def test_revoke_consent_leaves_other_members_tokens_alone(member, application):
    other = member_with_login().user
    theirs = flow.obtain_tokens(other, application)
    flow.obtain_tokens(member, application)

    consent.revoke_consent(member, application)

    assert flow.refresh(Client(), application, theirs["refresh_token"]).status_code == 200
    assert RefreshToken.objects.filter(user=member, revoked__isnull=True).count() == 0


def test_after_revoke_consent_the_page_asks_again(browser, member, application):
    allow(browser, application, "member-read")

    consent.revoke_consent(member, application)

    page = authorize(browser, application, "member-read")
    assert page.status_code == 200
    assert [s.name for s in page.context["scopes"]] == ["member-read"]


# --- remembered and incremental consent -------------------------------------------------------


def test_first_request_asks_every_scope(browser, application):
    page = authorize(browser, application, "openid member-read")

    assert page.status_code == 200
    assert [s.name for s in page.context["scopes"]] == ["openid", "member-read"]
    assert page.context["already_allowed"] == []
    assert b"Already allowed" not in page.content


def test_allow_records_the_consent(browser, member, application):
    params = flow.redirect_params(allow(browser, application, "openid member-read"))

    assert "code" in params
    stored = Consent.objects.get(user=member, application=application)
    assert stored.scopes == ["openid", "member-read"]
    assert stored.last_used_at is not None


def test_second_request_for_the_same_scopes_skips_the_page(browser, member, application):
    allow(browser, application, "openid member-read")
    Consent.objects.update(last_used_at=None)

    response = authorize(browser, application, "openid member-read")

    params = flow.redirect_params(response)
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == "state-123"
    assert Grant.objects.count() == 2
    assert Consent.objects.get(user=member, application=application).last_used_at is not None
    # The skipped page records no second consent event.
    assert AuditEvent.objects.filter(event=AuditEvent.Event.CONSENT_GRANTED).count() == 1


def test_code_from_remembered_consent_redeems_for_tokens(browser, application):
    allow(browser, application, "openid member-read")
    code, verifier = flow.obtain_code(browser, application, "member-read", nonce="n-2")

    response = flow.redeem(Client(), application, code, verifier)

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "member-read"


def test_a_subset_of_allowed_scopes_skips_the_page(browser, application):
    allow(browser, application, "openid member-read email")

    params = flow.redirect_params(authorize(browser, application, "member-read"))

    assert "code" in params
    assert params["state"] == "state-123"


def test_one_new_scope_is_the_only_one_asked(browser, member, application):
    allow(browser, application, "openid member-read")

    page = authorize(browser, application, "openid member-read group-read")

    assert page.status_code == 200
    assert [s.name for s in page.context["scopes"]] == ["group-read"]
    assert [s.name for s in page.context["already_allowed"]] == ["openid", "member-read"]
    assert b"Already allowed" in page.content
    assert page.content.count(b'class="scope-name"') == 3


def test_allowing_new_scopes_records_the_union(browser, member, application):
    allow(browser, application, "openid member-read")

    flow.redirect_params(allow(browser, application, "email group-read"))

    assert Consent.objects.get(user=member, application=application).scopes == [
        "openid",
        "member-read",
        "email",
        "group-read",
    ]
    assert flow.redirect_params(authorize(browser, application, "openid email group-read"))["code"]


def test_deny_records_nothing_and_the_next_request_asks_again(browser, member, application):
    response = flow.submit_consent(browser, application, "member-read", flow.pkce_pair()[1], allow=False)

    params = flow.redirect_params(response)
    assert params["error"] == "access_denied"
    assert params["state"] == "state-123"
    assert not Consent.objects.exists()
    assert authorize(browser, application, "member-read").status_code == 200


def test_deny_of_new_scopes_keeps_the_earlier_consent_unchanged(browser, member, application):
    allow(browser, application, "member-read")

    flow.submit_consent(browser, application, "group-read", flow.pkce_pair()[1], allow=False)

    assert Consent.objects.get(user=member, application=application).scopes == ["member-read"]


def test_prompt_consent_always_asks(browser, application):
    allow(browser, application, "openid member-read")

    page = authorize(browser, application, "openid member-read", prompt="consent")

    assert page.status_code == 200
    assert page.context["scopes"] == []
    assert [s.name for s in page.context["already_allowed"]] == ["openid", "member-read"]


def test_approval_prompt_auto_cannot_skip_a_prompt_consent(browser, application):
    allow(browser, application, "member-read")

    page = authorize(browser, application, "member-read", prompt="consent", approval_prompt="auto")

    assert page.status_code == 200


def test_first_party_app_skips_consent(browser):
    first_party = first_party_app()

    params = flow.redirect_params(authorize(browser, first_party, "openid member-read"))

    assert "code" in params
    assert params["state"] == "state-123"
    assert not AuditEvent.objects.filter(event__startswith="consent.").exists()


# --- prompt=none --------------------------------------------------------------------------------


def test_prompt_none_without_a_session_answers_login_required(application):
    response = authorize(Client(), application, "openid member-read", prompt="none")

    params = flow.redirect_params(response)
    assert params["error"] == "login_required"
    assert params["state"] == "state-123"


def test_prompt_none_without_a_session_never_redirects_to_an_unregistered_uri(application):
    response = authorize(Client(), application, "openid", prompt="none", redirect_uri="https://evil.test/cb")

    assert response.status_code == 400
    assert "evil.test" not in response.get("Location", "")


@pytest.mark.parametrize("scope", ["openid member-read", "member-read"])
def test_prompt_none_with_missing_consent_answers_consent_required(browser, application, scope):
    response = authorize(browser, application, scope, prompt="none")

    params = flow.redirect_params(response)
    assert params["error"] == "consent_required"
    assert params["state"] == "state-123"
    assert not Grant.objects.exists()


def test_prompt_none_with_a_new_scope_answers_consent_required(browser, application):
    allow(browser, application, "openid")

    params = flow.redirect_params(authorize(browser, application, "openid email", prompt="none"))

    assert params["error"] == "consent_required"
    assert params["state"] == "state-123"


@pytest.mark.parametrize("scope", ["openid member-read", "member-read"])
def test_prompt_none_with_full_consent_issues_the_code(browser, application, scope):
    allow(browser, application, "openid member-read")

    params = flow.redirect_params(authorize(browser, application, scope, prompt="none"))

    assert "code" in params
    assert params["state"] == "state-123"


def test_prompt_none_for_a_first_party_app_issues_the_code(browser):
    first_party = first_party_app()

    params = flow.redirect_params(authorize(browser, first_party, "openid", prompt="none"))

    assert "code" in params


@pytest.mark.parametrize("scope", ["openid", "member-read"])
def test_prompt_none_with_another_value_is_invalid(browser, application, scope):
    allow(browser, application, scope)

    params = flow.redirect_params(authorize(browser, application, scope, prompt="none login"))

    assert params["error"] == "invalid_request"
    assert params["state"] == "state-123"
    assert is_signed_in(browser)


# --- prompt=login and max_age -------------------------------------------------------------------


def test_prompt_login_asks_for_a_sign_in_and_returns_without_it(browser, member, application):
    allow(browser, application, "openid member-read")

    response = authorize(browser, application, "openid member-read", prompt="login")

    next_url = login_next(response)
    assert urlparse(next_url).path == "/oauth/authorize"
    assert "prompt" not in next_query(next_url)
    assert next_query(next_url)["state"] == ["state-123"]
    assert is_signed_in(browser)  # until the new sign-in replaces the session (test_fresh_sign_in.py)
    # After signing in again, the request goes through on the remembered consent.
    browser.force_login(member)
    assert "code" in flow.redirect_params(browser.get(next_url))


def test_prompt_login_keeps_the_other_prompt_values(browser, application):
    response = authorize(browser, application, "openid", prompt="login consent")

    assert next_query(login_next(response))["prompt"] == ["consent"]


def test_prompt_login_without_a_session_goes_to_sign_in_without_it(application):
    response = authorize(Client(), application, "openid", prompt="login")

    assert "prompt" not in next_query(login_next(response))


def test_prompt_login_for_an_unknown_client_signs_nobody_out(browser, application):
    response = authorize(browser, application, "openid", prompt="login", client_id="nope")

    assert response.status_code == 400
    assert is_signed_in(browser)


def signed_in_ago(browser: Client, seconds: int) -> None:
    flow.set_signed_in_at(browser, timezone.now() - timedelta(seconds=seconds))


def test_max_age_exceeded_asks_for_a_fresh_sign_in(browser, member, application):
    allow(browser, application, "openid")
    signed_in_ago(browser, seconds=120)

    response = authorize(browser, application, "openid", max_age="60")

    next_url = login_next(response)
    assert "max_age" not in next_query(next_url)
    assert is_signed_in(browser)
    browser.force_login(member)  # a fresh sign-in in this browser
    assert "code" in flow.redirect_params(browser.get(next_url))


def test_max_age_not_exceeded_issues_the_code(browser, member, application):
    allow(browser, application, "openid")
    signed_in_ago(browser, seconds=30)

    params = flow.redirect_params(authorize(browser, application, "openid", max_age="60"))

    assert "code" in params
    assert params["state"] == "state-123"
    assert is_signed_in(browser)


def test_max_age_counts_from_this_browsers_sign_in_not_from_another_browsers(browser, member, application):
    allow(browser, application, "openid")
    signed_in_ago(browser, seconds=120)
    Client().force_login(member)  # the member signs in on their phone: last_login is now

    response = authorize(browser, application, "openid", max_age="60")

    assert login_next(response)


def test_max_age_without_a_session_goes_to_sign_in_without_it(application):
    response = authorize(Client(), application, "openid", max_age="0")

    assert "max_age" not in next_query(login_next(response))


def test_max_age_exceeded_with_prompt_none_answers_login_required(browser, member, application):
    allow(browser, application, "openid")
    signed_in_ago(browser, seconds=120)

    params = flow.redirect_params(authorize(browser, application, "openid", max_age="60", prompt="none"))

    assert params["error"] == "login_required"
    assert params["state"] == "state-123"
    assert is_signed_in(browser)


def test_max_age_that_is_not_a_number_is_invalid(browser, application):
    params = flow.redirect_params(authorize(browser, application, "openid", max_age="soon"))

    assert params["error"] == "invalid_request"
    assert params["state"] == "state-123"
    assert is_signed_in(browser)
