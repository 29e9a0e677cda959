"""Token exchange end to end over HTTP: the service is Authlib's OAuth2Session, Latch the live server.

The member's token comes from the code flow; the service exchanges it for a token for Latch's API
(the live server's /api/v1, which matches the token's audience by URL prefix), uses it there, and
learns at introspection who acts.
"""

from collections.abc import Iterator

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from apps.oauth.models import TokenExchangePolicy
from tests.oauth import flow
from tests.oauth.exchange import ACCESS_TOKEN_TYPE, FILES_API, TOKEN_EXCHANGE, exchanging_service
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service_session(live_server) -> Iterator[tuple[object, OAuth2Session]]:
    frontend = ApplicationFactory()
    service = exchanging_service(subject_clients=[frontend])
    TokenExchangePolicy.objects.filter(client=service).update(
        audiences=[f"{live_server.url}/api/v1", FILES_API]
    )
    with OAuth2Session(
        service.client_id, service.secret, token_endpoint_auth_method="client_secret_basic"
    ) as session:
        yield frontend, service, session


def fetch_exchanged(session: OAuth2Session, latch: str, subject: str, **params) -> dict:
    """The service's exchange, as Authlib sends any token request (client_secret_basic)."""
    return session.fetch_token(
        f"{latch}/oauth/token",
        grant_type=TOKEN_EXCHANGE,
        subject_token=subject,
        subject_token_type=ACCESS_TOKEN_TYPE,
        **params,
    )


def member_list(latch: str, access_token: str) -> requests.Response:
    return requests.get(
        f"{latch}/api/v1/members", headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )


def test_a_service_exchanges_a_members_token_with_authlib_and_uses_it_at_the_api(
    live_server, member, service_session
):
    frontend, service, session = service_session
    subject = flow.obtain_tokens(member, frontend, "member-read activity-read")["access_token"]
    actor = requests.post(
        f"{live_server.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "member-read"},
        auth=(service.client_id, service.secret),
        timeout=10,
    ).json()["access_token"]

    token = fetch_exchanged(
        session,
        live_server.url,
        subject,
        actor_token=actor,
        actor_token_type=ACCESS_TOKEN_TYPE,
        resource=f"{live_server.url}/api/v1",
        scope="member-read",
    )
    members = member_list(live_server.url, token["access_token"])
    introspected = requests.post(
        f"{live_server.url}/oauth/introspect",
        data={"token": token["access_token"]},
        auth=(service.client_id, service.secret),
        timeout=10,
    ).json()

    assert token["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "member-read"
    assert "refresh_token" not in token
    assert members.status_code == 200, members.text
    assert introspected["sub"] == str(member.public_id)
    assert introspected["aud"] == [f"{live_server.url}/api/v1"]
    assert introspected["act"] == {"sub": service.client_id, "client_id": service.client_id}


def test_a_token_exchanged_for_another_api_is_refused_by_latchs_api_over_http(
    live_server, member, service_session
):
    frontend, _service, session = service_session
    subject = flow.obtain_tokens(member, frontend, "member-read")["access_token"]

    token = fetch_exchanged(session, live_server.url, subject, resource=FILES_API)
    members = member_list(live_server.url, token["access_token"])

    assert members.status_code == 401
    assert 'error="invalid_token"' in members.headers["WWW-Authenticate"]


def test_scope_escalation_over_http_is_invalid_scope(live_server, member, service_session):
    frontend, service, _session = service_session
    subject = flow.obtain_tokens(member, frontend, "member-read")["access_token"]

    response = requests.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "resource": FILES_API,
            "scope": "member-read checkout-read",
        },
        auth=(service.client_id, service.secret),
        timeout=10,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
