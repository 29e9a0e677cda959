import json
import re

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, Application, Grant, RefreshToken
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.assertions import client_key, jwks
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def add_form(**overrides):
    data = {
        "name": "Planner",
        "description": "Plans activities",
        "homepage_url": "https://planner.example.org/",
        "logo_url": "",
        "client_type": "confidential",
        "authorization_grant_type": "authorization-code",
        "redirect_uris": "https://planner.example.org/callback",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "allowed_scopes": ["openid", "member-read"],
        "access_token_format": "opaque",
    }
    data.update(overrides)
    return data


def test_admin_shows_allowed_scopes_as_checkboxes(admin_browser):
    html = admin_browser.get("/admin/oauth/application/add/").content.decode()

    for scope in ("openid", "member-read", "checkout-write"):
        assert f'type="checkbox" name="allowed_scopes" value="{scope}"' in html
    assert 'name="client_secret"' not in html


def test_admin_shows_the_pkce_opt_out_resource_server_and_dpop_switches_off_with_what_they_do(admin_browser):
    html = admin_browser.get("/admin/oauth/application/add/").content.decode()

    for switch in ("pkce_optional", "is_resource_server", "require_dpop"):
        checkbox = re.search(rf'<input type="checkbox" name="{switch}"[^>]*>', html).group(0)
        assert "checked" not in checkbox
    assert "protected by the client secret alone" in html
    assert "may introspect any application" in html
    assert "must carry a DPoP proof" in html


def test_admin_sets_the_app_to_require_pushed_authorization_requests(admin_browser):
    html = admin_browser.get("/admin/oauth/application/add/").content.decode()
    response = admin_browser.post(
        "/admin/oauth/application/add/", add_form(require_pushed_authorization_requests="on")
    )

    assert '<input type="checkbox" name="require_pushed_authorization_requests"' in html
    assert response.status_code == 200, response.content
    assert Application.objects.get(name="Planner").require_pushed_authorization_requests is True


def test_admin_refuses_the_pkce_opt_out_for_a_public_client(admin_browser):
    response = admin_browser.post(
        "/admin/oauth/application/add/", add_form(client_type="public", pkce_optional="on")
    )

    assert response.status_code == 200
    assert "a public one never may" in response.content.decode()
    assert not Application.objects.exists()


def test_admin_creates_an_application_and_shows_its_secret_once(admin_browser):
    response = admin_browser.post("/admin/oauth/application/add/", add_form())

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    application = Application.objects.get(name="Planner")
    assert application.allowed_scopes == ["openid", "member-read"]
    secret = re.search(r"<td><code>([A-Za-z0-9_-]{60,})</code></td>", response.content.decode()).group(1)
    assert application.client_secret.startswith("latch_sha256$")
    assert secret not in application.client_secret
    # The secret works once shown, and is nowhere on the application's own page afterwards.
    change_page = admin_browser.get(f"/admin/oauth/application/{application.pk}/change/").content.decode()
    assert secret not in change_page
    assert application.client_id in change_page


def test_admin_refuses_unknown_grant_and_user_scopes_for_client_credentials(admin_browser):
    response = admin_browser.post(
        "/admin/oauth/application/add/",
        add_form(authorization_grant_type="client-credentials", redirect_uris="", allowed_scopes=["openid"]),
    )

    assert response.status_code == 200
    assert "acts for itself" in response.content.decode()
    assert not Application.objects.exists()


def test_admin_generates_a_new_secret_and_the_old_one_stops_working(admin_browser):
    application = ApplicationFactory(
        grant_type="client_credentials", redirect_uris=[], allowed_scopes=["member-read"]
    )
    old_secret = application.secret

    response = admin_browser.post(
        "/admin/oauth/application/",
        {"action": "new_client_secret", "_selected_action": [application.pk]},
    )

    new_secret = re.search(r"<td><code>([A-Za-z0-9_-]{60,})</code></td>", response.content.decode()).group(1)
    assert new_secret != old_secret
    assert flow.client_credentials(Client(), application).status_code == 401
    application.secret = new_secret
    assert flow.client_credentials(Client(), application).status_code == 200


def issue_tokens():
    member = UserFactory()
    browser = Client()
    browser.force_login(member)
    application = ApplicationFactory()
    code, verifier = flow.get_code(browser, application, "member-read offline_access")
    return application, flow.redeem(Client(), application, code, verifier).json()


def test_admin_lists_tokens_without_showing_them(admin_browser):
    _, tokens = issue_tokens()

    for path in ("accesstoken", "refreshtoken", "grant"):
        response = admin_browser.get(f"/admin/oauth/{path}/")
        assert response.status_code == 200
        assert tokens["access_token"] not in response.content.decode()
        assert tokens["refresh_token"] not in response.content.decode()
    token = AccessToken.objects.get()
    listing = admin_browser.get("/admin/oauth/accesstoken/").content.decode()
    assert f"{tokens['access_token'][:6]}…" in listing
    detail = admin_browser.get(f"/admin/oauth/accesstoken/{token.pk}/change/").content.decode()
    assert token.token_checksum not in detail
    assert f"{tokens['access_token'][:6]}…" in detail


def test_admin_tells_jwt_access_tokens_apart_by_their_jti_and_never_shows_them(admin_browser):
    application = ApplicationFactory(access_token_format="jwt")
    tokens = flow.obtain_tokens(UserFactory(), application, "member-read")
    token = AccessToken.objects.get()

    listing = admin_browser.get("/admin/oauth/accesstoken/").content.decode()
    detail = admin_browser.get(f"/admin/oauth/accesstoken/{token.pk}/change/").content.decode()

    assert f"JWT jti {token.jti[:8]}…" in listing
    assert token.jti in detail
    assert tokens["access_token"] not in listing + detail
    assert "eyJ" not in listing


def test_admin_shows_the_scope_a_refresh_token_keeps_after_a_narrowed_refresh(admin_browser):
    application, tokens = issue_tokens()
    narrowed = flow.refresh(Client(), application, tokens["refresh_token"], scope="offline_access").json()
    token = RefreshToken.objects.get(revoked__isnull=True)
    assert narrowed["scope"] == "offline_access"

    listing = admin_browser.get("/admin/oauth/refreshtoken/").content.decode()
    detail = admin_browser.get(f"/admin/oauth/refreshtoken/{token.pk}/change/").content.decode()

    assert "member-read offline_access" in listing
    assert "member-read offline_access" in detail


def test_admin_revokes_a_refresh_token_and_its_access_token(admin_browser):
    application, tokens = issue_tokens()

    admin_browser.post(
        "/admin/oauth/refreshtoken/",
        {"action": "revoke_tokens", "_selected_action": [RefreshToken.objects.get().pk]},
    )

    assert flow.refresh(Client(), application, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_admin_revokes_an_authorization_code_and_what_it_issued(admin_browser):
    issue_tokens()

    admin_browser.post(
        "/admin/oauth/grant/", {"action": "revoke_codes", "_selected_action": [Grant.objects.get().pk]}
    )

    assert not Grant.objects.exists()
    assert not AccessToken.objects.exists()
    assert RefreshToken.objects.get().revoked is not None


def test_members_cannot_reach_the_admin():
    browser = Client()
    browser.force_login(UserFactory())

    assert browser.get("/admin/oauth/application/").status_code == 302


def test_admin_refuses_a_private_key_in_a_private_key_jwt_apps_jwks(admin_browser):
    """The admin shows clean()'s message (apps/oauth/client_keys.py) and stores nothing."""
    response = admin_browser.post(
        "/admin/oauth/application/add/",
        add_form(
            token_endpoint_auth_method="private_key_jwt",
            jwks=json.dumps({"keys": [client_key().private()]}),
        ),
    )

    assert response.status_code == 200
    assert "holds private key material" in response.content.decode()
    assert not Application.objects.exists()


def test_admin_registers_a_private_key_jwt_app_with_its_public_keys(admin_browser):
    response = admin_browser.post(
        "/admin/oauth/application/add/",
        add_form(token_endpoint_auth_method="private_key_jwt", jwks=json.dumps(jwks(client_key()))),
    )

    assert response.status_code == 200, response.content
    application = Application.objects.get(name="Planner")
    assert application.token_endpoint_auth_method == "private_key_jwt"
    assert application.jwks == jwks(client_key())
    assert application.client_secret == ""  # it signs with its key; a secret would be refused
    assert "none (private_key_jwt" in response.content.decode()
