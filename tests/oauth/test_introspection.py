"""RFC 7662 token introspection at /oauth/introspect, for clients that authenticate."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.oauth.hashers import ClientSecretHasher
from apps.oauth.models import AccessToken, Application, RefreshToken
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, public_application, service_application

pytestmark = pytest.mark.django_db

ISSUER = "https://testserver"
INACTIVE = {"active": False}


@pytest.fixture
def resource_server():
    """A confidential client that checks the tokens it is handed, marked so by an administrator."""
    return ApplicationFactory(name="Resource server", is_resource_server=True)


def issue(browser, application, scope: str = "openid member-read") -> dict:
    code, verifier = flow.get_code(browser, application, scope)
    response = flow.redeem(Client(), application, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def introspect(token: str | None, caller, **data):
    if token is not None:
        data["token"] = token
    return Client().post("/oauth/introspect", data, **flow.app_auth(caller))


def revoke(application, token: str, **data):
    response = Client().post("/oauth/revoke", {"token": token, **data}, **flow.app_auth(application))
    assert response.status_code == 200, response.content
    return response


# --- Active tokens ------------------------------------------------------------------------------


def test_active_access_token_introspects_with_every_claim(browser, application, resource_server, member):
    body = issue(browser, application, "openid member-read")
    stored = AccessToken.objects.get()

    response = introspect(body["access_token"], resource_server)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "active": True,
        "scope": "openid member-read",
        "client_id": application.client_id,
        "sub": str(member.public_id),
        "username": "ada@example.org",
        "token_type": "Bearer",
        "exp": int(stored.expires.timestamp()),
        "iat": int(stored.created.timestamp()),
        "iss": ISSUER,
    }


def test_access_token_expiry_is_an_hour_after_issue(browser, application, resource_server):
    body = issue(browser, application)

    claims = introspect(body["access_token"], resource_server).json()

    assert claims["exp"] - claims["iat"] in {3599, 3600}
    assert claims["exp"] > timezone.now().timestamp()


def test_client_credentials_token_introspects_without_sub_or_username(resource_server):
    service = service_application()
    access_token = flow.client_credentials(Client(), service, scope="member-read").json()["access_token"]
    stored = AccessToken.objects.get()

    response = introspect(access_token, resource_server)

    assert response.json() == {
        "active": True,
        "scope": "member-read",
        "client_id": service.client_id,
        "token_type": "Bearer",
        "exp": int(stored.expires.timestamp()),
        "iat": int(stored.created.timestamp()),
        "iss": ISSUER,
    }


def test_a_wrong_token_type_hint_still_finds_the_access_token(browser, application, resource_server):
    body = issue(browser, application)

    response = introspect(body["access_token"], resource_server, token_type_hint="refresh_token")

    assert response.json()["active"] is True
    assert response.json()["client_id"] == application.client_id


@pytest.mark.parametrize("hint", [None, "refresh_token"])
def test_active_refresh_token_introspects_as_active(browser, application, resource_server, member, hint):
    body = issue(browser, application, "openid member-read offline_access")
    refresh_token = RefreshToken.objects.get()
    extra = {"token_type_hint": hint} if hint else {}

    response = introspect(body["refresh_token"], resource_server, **extra)

    assert response.status_code == 200
    claims = response.json()
    assert claims["active"] is True
    assert {key: claims[key] for key in ("scope", "client_id", "sub", "username", "iss", "iat", "exp")} == {
        "scope": "openid member-read offline_access",
        "client_id": application.client_id,
        "sub": str(member.public_id),
        "username": "ada@example.org",
        "iss": ISSUER,
        "iat": int(refresh_token.created.timestamp()),
        "exp": int((refresh_token.access_token.expires + timedelta(days=30)).timestamp()),
    }


# --- Who may learn about which token (RFC 7662 §2.2, §4) ---------------------------------------


def test_a_client_learns_about_its_own_tokens(browser, application, member):
    body = issue(browser, application, "openid member-read offline_access")

    access = introspect(body["access_token"], application).json()
    refresh = introspect(body["refresh_token"], application).json()

    assert (access["active"], access["sub"]) == (True, str(member.public_id))
    assert (refresh["active"], refresh["sub"]) == (True, str(member.public_id))


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_a_client_cannot_learn_about_another_clients_token(browser, application, which):
    """Token scanning (RFC 7662 §4): an ordinary client must not confirm, or read the member and
    scopes of, a token that was issued to someone else."""
    body = issue(browser, application, "openid member-read offline_access")
    snooper = ApplicationFactory(name="Snooper")

    response = introspect(body[which], snooper)

    assert response.status_code == 200
    assert response.json() == INACTIVE


def test_a_client_cannot_learn_about_an_app_token_of_another_client(resource_server):
    service = service_application()
    access_token = flow.client_credentials(Client(), service, scope="member-read").json()["access_token"]

    assert introspect(access_token, service_application()).json() == INACTIVE
    assert introspect(access_token, resource_server).json()["active"] is True


def test_a_resource_server_learns_about_every_clients_token(browser, application, resource_server):
    body = issue(browser, application, "openid member-read offline_access")

    assert introspect(body["access_token"], resource_server).json()["active"] is True
    assert introspect(body["refresh_token"], resource_server).json()["active"] is True


def test_applications_are_not_resource_servers_unless_an_administrator_says_so():
    assert ApplicationFactory().is_resource_server is False
    assert service_application().is_resource_server is False


@pytest.mark.parametrize(
    ("scope", "has_username"),
    [
        ("openid member-read", True),
        ("openid email", True),
        ("openid profile", False),
        ("openid activity-read", False),
    ],
)
def test_username_is_only_shown_when_the_scopes_cover_the_email(
    browser, application, resource_server, scope, has_username
):
    body = issue(browser, application, scope)

    claims = introspect(body["access_token"], resource_server).json()

    assert claims["active"] is True
    assert ("username" in claims) is has_username
    assert claims.get("username", "ada@example.org") == "ada@example.org"


# --- Inactive tokens: all just {"active": false} ------------------------------------------------


def test_expired_access_token_is_inactive(browser, application, resource_server):
    body = issue(browser, application)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))

    response = introspect(body["access_token"], resource_server)

    assert response.status_code == 200
    assert response.json() == INACTIVE


def test_revoked_access_token_is_inactive(browser, application, resource_server):
    body = issue(browser, application)
    assert introspect(body["access_token"], resource_server).json()["active"] is True

    revoke(application, body["access_token"])

    assert introspect(body["access_token"], resource_server).json() == INACTIVE


def test_garbage_token_is_inactive(resource_server):
    response = introspect("this-is-not-a-token", resource_server)

    assert response.status_code == 200
    assert response.json() == INACTIVE


def test_token_of_a_deactivated_member_is_inactive(browser, application, resource_server, member):
    body = issue(browser, application)
    member.is_active = False
    member.save()

    assert introspect(body["access_token"], resource_server).json() == INACTIVE


def test_rotated_refresh_token_is_inactive(browser, application, resource_server):
    body = issue(browser, application, "openid offline_access")
    rotated = flow.refresh(Client(), application, body["refresh_token"])
    assert rotated.status_code == 200, rotated.content

    response = introspect(body["refresh_token"], resource_server)

    assert response.json() == INACTIVE
    # ... and the access token that came with it went too.
    assert introspect(body["access_token"], resource_server).json() == INACTIVE


def test_revoked_refresh_token_is_inactive(browser, application, resource_server):
    body = issue(browser, application, "openid offline_access")

    revoke(application, body["refresh_token"], token_type_hint="refresh_token")

    assert introspect(body["refresh_token"], resource_server).json() == INACTIVE
    assert introspect(body["refresh_token"], resource_server, token_type_hint="refresh_token").json() == (
        INACTIVE
    )


# --- Client authentication --------------------------------------------------------------------


def test_without_client_authentication_introspection_is_refused(browser, application):
    body = issue(browser, application)

    response = Client().post("/oauth/introspect", {"token": body["access_token"]})

    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }
    assert response["WWW-Authenticate"] == 'Basic realm="Latch"'
    assert response["Cache-Control"] == "no-store"


def test_wrong_client_secret_is_refused(browser, application, resource_server):
    body = issue(browser, application)

    response = Client().post(
        "/oauth/introspect",
        {"token": body["access_token"]},
        **flow.basic_auth(resource_server.client_id, "not-the-secret"),
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()


def test_unknown_client_is_refused(browser, application):
    body = issue(browser, application)

    response = Client().post(
        "/oauth/introspect", {"token": body["access_token"]}, **flow.basic_auth("no-such-client", "secret")
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_client_id_without_secret_of_a_confidential_client_is_refused(browser, application, resource_server):
    body = issue(browser, application)

    response = Client().post(
        "/oauth/introspect", {"token": body["access_token"], "client_id": resource_server.client_id}
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("how", ["client_id only", "basic with empty secret"])
def test_public_client_cannot_introspect(browser, application, how):
    body = issue(browser, application)
    public = public_application()
    if how == "client_id only":
        response = Client().post(
            "/oauth/introspect", {"token": body["access_token"], "client_id": public.client_id}
        )
    else:
        response = Client().post(
            "/oauth/introspect", {"token": body["access_token"]}, **flow.basic_auth(public.client_id, "")
        )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "sub" not in response.json()


def test_public_client_stored_with_a_hash_of_the_empty_secret_cannot_introspect(browser, application):
    """Public clients registered before secrets were stored unhashed carry a hash of ""."""
    body = issue(browser, application)
    public = public_application()
    Application.objects.filter(pk=public.pk).update(
        client_secret=ClientSecretHasher().encode("", "0123456789abcdef")
    )

    by_body = Client().post(
        "/oauth/introspect", {"token": body["access_token"], "client_id": public.client_id}
    )
    by_basic = Client().post(
        "/oauth/introspect", {"token": body["access_token"]}, **flow.basic_auth(public.client_id, "")
    )

    assert (by_body.status_code, by_basic.status_code) == (401, 401)
    assert by_body.json()["error"] == "invalid_client"
    assert by_basic.json()["error"] == "invalid_client"


def test_client_secret_post_authenticates(browser, application, resource_server, member):
    body = issue(browser, application)

    response = Client().post(
        "/oauth/introspect",
        {
            "token": body["access_token"],
            "client_id": resource_server.client_id,
            "client_secret": resource_server.secret,
        },
    )

    assert response.status_code == 200
    assert response.json()["active"] is True
    assert response.json()["sub"] == str(member.public_id)


# --- Requests -----------------------------------------------------------------------------------


def test_missing_token_parameter_is_invalid_request(resource_server):
    response = introspect(None, resource_server)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The token parameter is missing.",
    }
    assert response["Cache-Control"] == "no-store"


def test_token_sent_twice_is_invalid_request(browser, application, resource_server):
    body = issue(browser, application)

    response = Client().post(
        "/oauth/introspect", {"token": [body["access_token"], "other"]}, **flow.app_auth(resource_server)
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_introspection_answers_post_only(resource_server):
    response = Client().get("/oauth/introspect", {"token": "x"}, **flow.app_auth(resource_server))

    assert response.status_code == 405


def test_active_and_inactive_answers_are_never_cached(browser, application, resource_server):
    body = issue(browser, application)

    active = introspect(body["access_token"], resource_server)
    inactive = introspect("unknown", resource_server)

    assert active.json()["active"] is True
    assert active["Cache-Control"] == "no-store"
    assert inactive.json() == INACTIVE
    assert inactive["Cache-Control"] == "no-store"
