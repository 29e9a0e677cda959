"""A copy of the database must not let anyone call an API, authenticate as a client or redeem anything."""

import pytest
from django.test import Client

from apps.oauth.models import AccessToken, Application, Grant, IDToken, RefreshToken
from tests.members.factories import member_with_login
from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory, service_application

pytestmark = pytest.mark.django_db

ALL_USER_SCOPES = "openid profile email offline_access member-read"


@pytest.fixture
def leaked():
    """Run every flow, then take every stored value of every credential-like column."""
    member = member_with_login()
    browser = Client()
    browser.force_login(member.user)
    web = ApplicationFactory()
    code, verifier = flow.get_code(browser, web, ALL_USER_SCOPES, nonce="n")
    first = flow.redeem(Client(), web, code, verifier).json()
    second = flow.refresh(Client(), web, first["refresh_token"]).json()
    flow.obtain_code(browser, web, "member-read")  # an unredeemed code stays in the table
    kiosk = service_application(allowed_scopes=["member-read"])
    flow.client_credentials(Client(), kiosk, scope="member-read")
    values: set[str] = set()
    for model, fields in [
        (AccessToken, ["token", "token_checksum", "token_prefix"]),
        (RefreshToken, ["token", "token_checksum", "token_prefix"]),
        (Grant, ["code", "code_challenge", "nonce"]),
        (IDToken, ["jti"]),
        (Application, ["client_id", "client_secret"]),
    ]:
        for row in model.objects.values_list(*fields):
            values.update(str(value) for value in row if value)
    # The issued secrets themselves are not in the database at all.
    issued = {first["access_token"], first["refresh_token"], second["access_token"], second["refresh_token"]}
    assert not issued & values
    assert web.secret not in values
    assert kiosk.secret not in values
    return {"values": sorted(values), "web": web, "kiosk": kiosk, "member": member}


def test_no_stored_value_is_accepted_as_a_bearer_token(leaked):
    for value in leaked["values"]:
        bearer = {"HTTP_AUTHORIZATION": f"Bearer {value}"}
        assert Client().get("/api/v1/members/me", **bearer).status_code == 401, value
        assert Client().get("/oauth/userinfo", **bearer).status_code == 401, value


def test_no_stored_value_redeems_as_a_code_or_refresh_token(leaked):
    web = leaked["web"]
    for value in leaked["values"]:
        as_refresh = flow.refresh(Client(), web, value)
        assert as_refresh.status_code == 400, value
        as_code = Client().post(
            "/oauth/token",
            {
                "grant_type": "authorization_code",
                "code": value,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": "v" * 43,
            },
            **flow.app_auth(web),
        )
        assert as_code.status_code == 400, value


def test_no_stored_value_authenticates_a_client(leaked, settings):
    # Every value is tried against both clients: more failures than throttling allows.
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_IP = settings.LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT = 10_000
    for application in (leaked["web"], leaked["kiosk"]):
        for value in leaked["values"]:
            response = Client().post(
                "/oauth/token",
                {"grant_type": "client_credentials"},
                **flow.basic_auth(application.client_id, value),
            )
            assert response.status_code == 401, value


def test_no_stored_value_introspects_as_active(leaked):
    resource_server = service_application()
    for value in leaked["values"]:
        response = Client().post("/oauth/introspect", {"token": value}, **flow.app_auth(resource_server))
        assert response.json() == {"active": False}, value
