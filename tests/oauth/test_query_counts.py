"""SQL statements on the hot paths, pinned: a change that adds one fails here and has to say why.

The counts include the SAVEPOINT / RELEASE pairs of the token endpoint's transactions (the test
itself runs inside a transaction); `make bench` reports the same paths per request under load.
What each statement is, per path:
- client_credentials (7): the application; the access token; the audit row; two savepoint pairs.
- code (14): the grant, locked, with its user (one read answers all six of oauthlib's questions
  about the code); the application; the id_token row; the access and refresh tokens; the audit row;
  marking the code redeemed; savepoints.
- refresh (24): DOT's rotation, which locks and re-reads the old token and its access token,
  revokes them and issues the new pair, plus the lock that makes a concurrent replay lose.
- resource, GET /api/v1/members/me (2): the access token with its user and application; the member.
- userinfo (1): the access token with its user.
- introspect (2): the authenticating client; the token.
"""

import pytest
from django.test import Client

from tests.api.tokens import bearer
from tests.members.factories import member_with_login
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, service_application

pytestmark = pytest.mark.django_db

SCOPE = "openid member-read offline_access"


@pytest.fixture
def application():
    return ApplicationFactory()


@pytest.fixture
def tokens(application) -> dict:
    return flow.obtain_tokens(member_with_login().user, application, SCOPE)


def test_client_credentials_takes_seven_statements(django_assert_max_num_queries):
    kiosk = service_application()
    scope = kiosk.allowed_scopes[0]
    flow.client_credentials(Client(), kiosk, scope=scope)  # warm: nothing cached is counted twice

    with django_assert_max_num_queries(7):
        response = flow.client_credentials(Client(), kiosk, scope=scope)

    assert response.status_code == 200


def test_redeeming_a_code_takes_fourteen_statements(application, django_assert_max_num_queries):
    browser = Client()
    browser.force_login(member_with_login().user)
    code, verifier = flow.obtain_code(browser, application, SCOPE)

    with django_assert_max_num_queries(14):
        response = flow.redeem(Client(), application, code, verifier)

    assert response.status_code == 200
    assert {"access_token", "refresh_token", "id_token"} <= set(response.json())


def test_a_refresh_takes_twenty_four_statements(application, tokens, django_assert_max_num_queries):
    with django_assert_max_num_queries(24):
        response = flow.refresh(Client(), application, tokens["refresh_token"])

    assert response.status_code == 200


def test_the_cheapest_api_call_takes_two_statements(tokens, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = Client().get("/api/v1/members/me", **bearer(tokens["access_token"]))

    assert response.status_code == 200


def test_userinfo_takes_one_statement(tokens, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        response = Client().get("/oauth/userinfo", **bearer(tokens["access_token"]))

    assert response.status_code == 200


def test_introspection_takes_two_statements(application, tokens, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = Client().post(
            "/oauth/introspect", {"token": tokens["access_token"]}, **flow.app_auth(application)
        )

    assert response.json()["active"] is True
