"""SQL statements on the hot paths, pinned: a change that adds one fails here and has to say why.

The counts include the SAVEPOINT / RELEASE pairs of the token endpoint's transactions (the test
itself runs inside a transaction); `make bench` reports the same paths per request under load.
The application is counted where a process reads it: once it keeps the client's row
(apps/oauth/client_cache.py), a request makes no query for it. What each statement is, per path:
- client_credentials (1 in production, 3 here): the access token and its audit row, one statement,
  in autocommit (TokenView opens no transaction for the grant); here, inside the test's
  transaction, the savepoint pair around it.
- code (11): the grant, locked, with its user (one read answers all six of oauthlib's questions
  about the code, and RFC 8707's about its resources); the application; the id_token row inside
  DOT's savepoint; the access and refresh tokens; the audit row; marking the code redeemed;
  TokenView's savepoint pair.
- refresh (12): the application; the refresh token, locked, with its user, client and access
  token; the id_token row inside DOT's savepoint; the rotation (the spent token revoked, its access
  token deleted); the new access and refresh tokens; the audit row; TokenView's savepoint pair.
- resource, GET /api/v1/members/me (1): the access token with its user, application and member.
- userinfo (1): the access token with its user.
- introspect (1): the token (the authenticating client is kept).
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


def kept(application, request) -> None:
    """Two requests: the first stores the applications' generation, the second keeps the row."""
    for _ in range(2):
        assert request().status_code == 200


@pytest.mark.django_db(transaction=True)  # autocommit, as in production
def test_client_credentials_takes_one_statement(django_assert_num_queries):
    kiosk = service_application()
    scope = kiosk.allowed_scopes[0]
    kept(kiosk, lambda: flow.client_credentials(Client(), kiosk, scope=scope))

    with django_assert_num_queries(1) as captured:
        response = flow.client_credentials(Client(), kiosk, scope=scope)

    assert response.status_code == 200
    (statement,) = [query["sql"] for query in captured.captured_queries]
    assert statement.startswith('WITH row0 AS (INSERT INTO "oauth_accesstoken"')
    assert 'INSERT INTO "audit_auditevent"' in statement


def test_client_credentials_in_a_callers_transaction_takes_a_savepoint_pair_more(
    django_assert_num_queries,
):
    kiosk = service_application()
    scope = kiosk.allowed_scopes[0]
    kept(kiosk, lambda: flow.client_credentials(Client(), kiosk, scope=scope))

    with django_assert_num_queries(3):
        response = flow.client_credentials(Client(), kiosk, scope=scope)

    assert response.status_code == 200


def test_redeeming_a_code_takes_eleven_statements(application, django_assert_max_num_queries):
    browser = Client()
    browser.force_login(member_with_login().user)
    code, verifier = flow.obtain_code(browser, application, SCOPE)

    with django_assert_max_num_queries(11):
        response = flow.redeem(Client(), application, code, verifier)

    assert response.status_code == 200
    assert {"access_token", "refresh_token", "id_token"} <= set(response.json())


def test_a_refresh_takes_twelve_statements(application, tokens, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = flow.refresh(Client(), application, tokens["refresh_token"])

    assert response.status_code == 200


def test_the_cheapest_api_call_takes_one_statement(tokens, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = Client().get("/api/v1/members/me", **bearer(tokens["access_token"]))

    assert response.status_code == 200


def test_userinfo_takes_one_statement(tokens, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        response = Client().get("/oauth/userinfo", **bearer(tokens["access_token"]))

    assert response.status_code == 200


def test_introspection_takes_one_statement(application, tokens, django_assert_num_queries):
    def introspect():
        return Client().post(
            "/oauth/introspect", {"token": tokens["access_token"]}, **flow.app_auth(application)
        )

    kept(application, introspect)

    with django_assert_num_queries(1):
        response = introspect()

    assert response.json()["active"] is True
