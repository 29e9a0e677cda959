"""Delegation by token exchange (RFC 8693 §1.1, §4.1): the actor token, `act`, and its nesting."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.oauth.models import AccessToken, TokenExchangePolicy
from tests.oauth import flow
from tests.oauth.exchange import (
    ACCESS_TOKEN_TYPE,
    SERVICE_API,
    assert_refused,
    exchange,
    exchanging_service,
    member_token,
    stored,
)
from tests.oauth.factories import ApplicationFactory, service_application
from tests.oauth.test_jwt_access_tokens import verified

pytestmark = pytest.mark.django_db


def app_token(app) -> str:
    response = flow.client_credentials(Client(), app, scope="member-read")
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def delegate(service, subject_token: str, actor_token: str, **params):
    return exchange(
        service, subject_token, actor_token=actor_token, actor_token_type=ACCESS_TOKEN_TYPE, **params
    )


def introspect(token: str, caller) -> dict:
    return Client().post("/oauth/introspect", {"token": token}, **flow.app_auth(caller)).json()


def test_the_services_own_token_as_actor_token_records_act(service, subject):
    response = delegate(service, subject["access_token"], app_token(service))

    assert response.status_code == 200, response.content
    act = {"sub": service.client_id, "client_id": service.client_id}
    assert stored(response.json()["access_token"]).actor == act


def test_introspection_shows_act(service, subject, member):
    exchanged = delegate(service, subject["access_token"], app_token(service)).json()["access_token"]

    claims = introspect(exchanged, service)

    assert claims["active"] is True
    assert claims["act"] == {"sub": service.client_id, "client_id": service.client_id}
    assert claims["sub"] == str(member.public_id)
    assert claims["client_id"] == service.client_id


def test_a_token_without_an_actor_introspects_without_act(service, subject):
    exchanged = exchange(service, subject["access_token"]).json()["access_token"]

    assert "act" not in introspect(exchanged, service)
    assert "act" not in introspect(subject["access_token"], ApplicationFactory(is_resource_server=True))


def test_the_actor_is_in_the_audit_event(service, subject):
    delegate(service, subject["access_token"], app_token(service))

    event = AuditEvent.objects.get(event=AuditEvent.Event.TOKEN_EXCHANGED)
    assert event.details["actor"] == {"sub": service.client_id, "client_id": service.client_id}


def test_a_second_exchange_nests_the_prior_actor(service, subject):
    TokenExchangePolicy.objects.filter(client=service).update(audiences=[SERVICE_API])
    first = delegate(service, subject["access_token"], app_token(service), resource=SERVICE_API)
    downstream = exchanging_service()  # serves SERVICE_API, the first token's audience

    second = delegate(downstream, first.json()["access_token"], app_token(downstream), scope="member-read")

    assert second.status_code == 200, second.content
    assert introspect(second.json()["access_token"], downstream)["act"] == {
        "sub": downstream.client_id,
        "client_id": downstream.client_id,
        "act": {"sub": service.client_id, "client_id": service.client_id},
    }


def test_without_an_actor_token_a_delegated_subjects_act_is_kept(service, subject):
    TokenExchangePolicy.objects.filter(client=service).update(audiences=[SERVICE_API])
    first = delegate(service, subject["access_token"], app_token(service), resource=SERVICE_API)
    downstream = exchanging_service()

    second = exchange(downstream, first.json()["access_token"], scope="member-read")

    assert stored(second.json()["access_token"]).actor == {
        "sub": service.client_id,
        "client_id": service.client_id,
    }


def test_another_clients_token_as_actor_token_is_invalid_request(service, subject):
    someone_elses = app_token(service_application())
    before = AccessToken.objects.count()

    assert_refused(delegate(service, subject["access_token"], someone_elses), "invalid_request")
    assert AccessToken.objects.count() == before


def test_a_members_token_as_actor_token_is_invalid_request(service, subject, member):
    own_member_token = member_token(member, ApplicationFactory())["access_token"]

    assert_refused(delegate(service, subject["access_token"], own_member_token), "invalid_request")
    # Not even the member token presented as both subject and actor.
    assert_refused(delegate(service, subject["access_token"], subject["access_token"]), "invalid_request")


@pytest.mark.parametrize("garbage", ["not-a-token", "\x00"])
def test_a_garbage_actor_token_is_invalid_request(service, subject, garbage):
    assert_refused(delegate(service, subject["access_token"], garbage), "invalid_request")


def test_an_expired_actor_token_is_invalid_request(service, subject):
    from django.utils import timezone

    actor = app_token(service)
    AccessToken.objects.filter(pk=stored(actor).pk).update(expires=timezone.now())

    assert_refused(delegate(service, subject["access_token"], actor), "invalid_request")


def test_a_jwt_service_gets_act_in_its_jwt_and_an_exp_no_later_than_the_members_token(service, subject):
    service.access_token_format, service.access_token_lifetime = "jwt", 86_400
    service.save()
    member_row = stored(subject["access_token"])
    member_row.expires = timezone.now() + timedelta(seconds=120)
    member_row.save()

    response = delegate(service, subject["access_token"], app_token(service))

    assert response.status_code == 200, response.content
    body = response.json()
    claims = verified(body["access_token"]).claims
    assert claims["act"] == {"sub": service.client_id, "client_id": service.client_id}
    assert claims["client_id"] == service.client_id
    assert claims["sub"] == subject_sub(subject)
    assert body["expires_in"] <= 120
    assert claims["exp"] <= int(member_row.expires.timestamp())
    assert stored(body["access_token"]).expires == datetime.fromtimestamp(claims["exp"], tz=UTC)


def subject_sub(subject: dict) -> str:
    return str(stored(subject["access_token"]).user.public_id)
