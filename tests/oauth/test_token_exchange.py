"""Token exchange (RFC 8693) at /oauth/token: what a service gets for a member's token, and every refusal."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.oauth.models import AccessToken, RefreshToken, TokenExchangePolicy
from apps.oauth.services import revoke_member_tokens
from tests.oauth import flow
from tests.oauth.exchange import (
    ACCESS_TOKEN_TYPE,
    FILES_API,
    LATCH_API,
    REFRESH_TOKEN_TYPE,
    SERVICE_API,
    TOKEN_EXCHANGE,
    assert_refused,
    exchange,
    exchanging_service,
    member_token,
    stored,
)
from tests.oauth.factories import ApplicationFactory, public_application, service_application

pytestmark = pytest.mark.django_db


def api(token: str, path: str = "/api/v1/members"):
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


# --- What an exchange gives -------------------------------------------------------------------------


def test_an_exchange_gives_the_member_a_narrower_token_for_the_service_and_the_audience(
    service, subject, member
):
    response = exchange(service, subject["access_token"], scope="member-read")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "member-read"
    assert "refresh_token" not in body
    assert 0 < body["expires_in"] <= 3600
    new, old = stored(body["access_token"]), stored(subject["access_token"])
    assert new.user == member
    assert new.application == service
    assert new.resource == [LATCH_API]
    assert new.token_family == old.token_family is not None
    assert new.actor is None
    assert new.issued_by_exchange
    assert not old.issued_by_exchange
    assert "no-store" in response["Cache-Control"]


def test_the_exchanged_token_works_at_the_api_for_its_audience_and_not_for_another(service, subject):
    for_latch = exchange(service, subject["access_token"], scope="member-read").json()["access_token"]
    for_files = exchange(service, subject["access_token"], scope="member-read", resource=FILES_API)
    for_files_token = for_files.json()["access_token"]

    assert api(for_latch).status_code == 200
    refused = api(for_files_token)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused["WWW-Authenticate"]


def test_an_audience_name_is_stored_as_the_tokens_audience_and_latch_refuses_it(service, subject):
    response = exchange(service, subject["access_token"], audience="kiosk")

    token = stored(response.json()["access_token"])
    assert token.resource == ["kiosk"]
    assert api(response.json()["access_token"]).status_code == 401


def test_resource_and_audience_may_both_repeat_and_all_become_the_audience(service, subject):
    response = exchange(service, subject["access_token"], resource=[LATCH_API, FILES_API], audience="kiosk")

    assert stored(response.json()["access_token"]).resource == [LATCH_API, FILES_API, "kiosk"]


def test_no_scope_asked_gives_subject_scopes_the_policy_and_the_client_allow(service, subject):
    # The subject has member-read activity-read group-read offline_access; the service may pass on
    # member-read activity-read checkout-read.
    response = exchange(service, subject["access_token"])

    assert response.json()["scope"] == "member-read activity-read"


def test_expires_in_never_goes_beyond_the_subject_tokens_expiry(service, subject):
    AccessToken.objects.filter(pk=stored(subject["access_token"]).pk).update(
        expires=timezone.now() + timedelta(seconds=90)
    )

    body = exchange(service, subject["access_token"]).json()

    assert 85 <= body["expires_in"] <= 90
    assert stored(body["access_token"]).expires <= stored(subject["access_token"]).expires


def test_an_exchanged_token_can_be_exchanged_again_by_a_service_that_accepts_it(service, subject):
    TokenExchangePolicy.objects.filter(client=service).update(audiences=[SERVICE_API])
    first = exchange(service, subject["access_token"], resource=SERVICE_API).json()["access_token"]
    downstream = exchanging_service()  # serves SERVICE_API, the first token's audience

    second = exchange(downstream, first, scope="member-read")

    assert second.status_code == 200, second.content
    assert stored(second.json()["access_token"]).token_family == stored(first).token_family


def test_every_exchange_is_an_audit_event(service, subject, member, frontend):
    exchange(service, subject["access_token"], scope="member-read activity-read", audience="kiosk")

    event = AuditEvent.objects.get(event=AuditEvent.Event.TOKEN_EXCHANGED)
    assert event.client_id == service.client_id
    assert event.actor_user == member
    assert event.details == {
        "member": str(member.public_id),
        "subject_client": frontend.client_id,
        "audience": ["kiosk"],
        "scope": "member-read activity-read",
        "actor": None,
    }


def test_a_dpop_proof_binds_the_exchanged_token(service, subject):
    from tests.dpop.proofs import ProofKey

    key = ProofKey()
    response = exchange(service, subject["access_token"], client=Client(HTTP_DPOP=key.proof()))

    assert response.json()["token_type"] == "DPoP"
    assert stored(response.json()["access_token"]).jkt == key.jkt


def test_discovery_lists_the_grant():
    metadata = Client().get("/.well-known/oauth-authorization-server").json()

    assert TOKEN_EXCHANGE in metadata["grant_types_supported"]


# --- Who may exchange -------------------------------------------------------------------------------


def test_a_client_without_a_policy_is_unauthorized_client(subject):
    response = exchange(service_application(), subject["access_token"])

    assert_refused(response, "unauthorized_client")
    assert not AuditEvent.objects.filter(event=AuditEvent.Event.TOKEN_EXCHANGED).exists()


def test_a_disabled_policy_is_unauthorized_client(service, subject):
    TokenExchangePolicy.objects.update(enabled=False)

    assert_refused(exchange(service, subject["access_token"]), "unauthorized_client")


def test_an_authorization_code_client_with_a_policy_may_exchange(subject, frontend):
    web_app = ApplicationFactory(allowed_scopes=["member-read"])
    policy = TokenExchangePolicy.objects.create(client=web_app, audiences=[LATCH_API], scopes=["member-read"])
    policy.subject_clients.set([frontend])

    assert exchange(web_app, subject["access_token"]).status_code == 200


def test_a_public_client_cannot_authenticate_and_is_invalid_client(subject, frontend):
    app = public_application()
    # Not even a policy an administrator forced into the database makes it able to.
    TokenExchangePolicy.objects.bulk_create([TokenExchangePolicy(client=app, audiences=[LATCH_API])])

    response = Client().post(
        "/oauth/token",
        {
            "grant_type": TOKEN_EXCHANGE,
            "client_id": app.client_id,
            "subject_token": subject["access_token"],
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "resource": LATCH_API,
        },
    )

    assert_refused(response, "invalid_client", status=401)


def test_a_wrong_client_secret_is_invalid_client_and_audited(service, subject):
    service.secret = "wrong"

    response = exchange(service, subject["access_token"])

    assert_refused(response, "invalid_client", status=401)
    assert AuditEvent.objects.filter(event=AuditEvent.Event.CLIENT_AUTH_FAILED).exists()


# --- Scope: never more than the member's token, the policy and the client ------------------------


@pytest.mark.parametrize(
    "scope",
    [
        "checkout-read",  # the policy and the client allow it, the member's token does not have it
        "group-read",  # the member's token has it, the policy does not pass it on
        "member-read checkout-read",  # one too many is too many
        "offline_access",  # no refresh token is ever issued by exchange
        "admin",  # no such scope
    ],
)
def test_scope_escalation_by_exchange_is_invalid_scope_and_issues_nothing(service, subject, scope):
    before = AccessToken.objects.count()

    assert_refused(exchange(service, subject["access_token"], scope=scope), "invalid_scope")
    assert AccessToken.objects.count() == before


def test_a_scope_the_policy_allows_but_the_client_does_not_is_invalid_scope(frontend, member):
    service = exchanging_service(subject_clients=[frontend], scopes=["member-read", "group-read"])
    subject = member_token(member, frontend, "member-read group-read")

    assert_refused(exchange(service, subject["access_token"], scope="group-read"), "invalid_scope")


def test_no_scope_in_common_is_invalid_scope(frontend, member):
    service = exchanging_service(subject_clients=[frontend])
    subject = member_token(member, frontend, "group-read")

    assert_refused(exchange(service, subject["access_token"]), "invalid_scope")


# --- Audience --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        {"resource": "https://elsewhere.example.org"},
        {"resource": "https://files.example.org/"},  # exact, not normalised or by prefix
        {"resource": f"{LATCH_API}/members"},
        {"audience": "Kiosk"},
        {"audience": "kiosk", "resource": "https://elsewhere.example.org"},
    ],
)
def test_an_audience_not_in_the_policy_is_invalid_target(service, subject, target):
    before = AccessToken.objects.count()

    assert_refused(exchange(service, subject["access_token"], **target), "invalid_target")
    assert AccessToken.objects.count() == before


def test_a_resource_that_is_not_an_absolute_uri_is_invalid_target(service, subject):
    TokenExchangePolicy.objects.update(audiences=["kiosk"])

    assert_refused(exchange(service, subject["access_token"], resource="kiosk"), "invalid_target")


def test_naming_no_audience_is_invalid_request(service, subject):
    response = exchange(service, subject["access_token"], resource=None)  # and no audience

    assert_refused(response, "invalid_request")


# --- The subject token -------------------------------------------------------------------------------


def test_an_expired_subject_token_is_invalid_request(service, subject):
    AccessToken.objects.filter(pk=stored(subject["access_token"]).pk).update(expires=timezone.now())

    assert_refused(exchange(service, subject["access_token"]), "invalid_request")


def test_a_revoked_subject_token_is_invalid_request(service, subject, frontend):
    revoked = Client().post("/oauth/revoke", {"token": subject["access_token"]}, **flow.app_auth(frontend))
    assert revoked.status_code == 200

    assert_refused(exchange(service, subject["access_token"]), "invalid_request")


def test_a_refresh_token_as_subject_token_is_invalid_request(service, subject):
    assert_refused(exchange(service, subject["refresh_token"]), "invalid_request")


def test_a_refresh_token_type_is_invalid_request(service, subject):
    response = exchange(service, subject["refresh_token"], subject_token_type=REFRESH_TOKEN_TYPE)

    assert_refused(response, "invalid_request")


@pytest.mark.parametrize("garbage", ["not-a-token", "x" * 5000, "\x00", "é"])
def test_a_garbage_subject_token_is_invalid_request(service, garbage):
    assert_refused(exchange(service, garbage), "invalid_request")


def test_a_deactivated_members_token_is_invalid_request(service, subject, member):
    member.is_active = False
    member.save()

    assert_refused(exchange(service, subject["access_token"]), "invalid_request")


def test_an_apps_own_token_is_not_a_members_and_is_invalid_request(service):
    other = service_application()
    TokenExchangePolicy.objects.get(client=service).subject_clients.add(other)
    app_token = flow.client_credentials(Client(), other, scope="member-read").json()["access_token"]

    assert_refused(exchange(service, app_token), "invalid_request")


def test_a_dpop_bound_subject_token_needs_a_proof_by_its_key(service, member, frontend):
    from tests.dpop.proofs import ProofKey

    key = ProofKey()
    code, verifier = flow.obtain_code(flow_browser(member), frontend, "member-read")
    bound = flow.redeem(Client(HTTP_DPOP=key.proof()), frontend, code, verifier).json()["access_token"]

    assert_refused(exchange(service, bound), "invalid_request")
    assert_refused(exchange(service, bound, client=Client(HTTP_DPOP=ProofKey().proof())), "invalid_request")
    assert exchange(service, bound, client=Client(HTTP_DPOP=key.proof())).status_code == 200


def flow_browser(member) -> Client:
    browser = Client()
    browser.force_login(member)
    return browser


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"subject_token_type": None}, "no subject token type"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "an id_token type"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "a JWT type"),
        ({"requested_token_type": REFRESH_TOKEN_TYPE}, "asks for a refresh token"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "asks for an id_token"),
        ({"actor_token": "something"}, "actor token without its type"),
        ({"actor_token_type": ACCESS_TOKEN_TYPE}, "actor token type without a token"),
    ],
)
def test_bad_or_unsupported_token_types_are_invalid_request(service, subject, params, why):
    before = AccessToken.objects.count()

    assert_refused(exchange(service, subject["access_token"], **params), "invalid_request")
    assert AccessToken.objects.count() == before


def test_no_subject_token_is_invalid_request(service):
    assert_refused(exchange(service, None), "invalid_request")


def test_a_repeated_subject_token_is_invalid_request(service, subject):
    response = exchange(service, [subject["access_token"], subject["access_token"]])

    assert_refused(response, "invalid_request")


def test_asking_for_an_access_token_explicitly_is_fine(service, subject):
    response = exchange(service, subject["access_token"], requested_token_type=ACCESS_TOKEN_TYPE)

    assert response.status_code == 200, response.content


# --- Whose tokens the service may exchange ------------------------------------------------------------


def test_a_token_of_an_app_the_policy_does_not_list_is_invalid_request(member):
    service = exchanging_service()  # lists no app
    subject = member_token(member)  # an unrestricted token of some app

    assert_refused(exchange(service, subject["access_token"]), "invalid_request")


def test_a_token_issued_for_another_api_of_an_unlisted_app_is_invalid_request(member):
    service = exchanging_service()
    subject = member_token(member)
    AccessToken.objects.filter(pk=stored(subject["access_token"]).pk).update(resource=[FILES_API])

    assert_refused(exchange(service, subject["access_token"]), "invalid_request")


def test_a_token_issued_for_the_api_the_service_serves_may_be_exchanged_by_it(member):
    service = exchanging_service()  # serves SERVICE_API, lists no app
    subject = member_token(member)
    AccessToken.objects.filter(pk=stored(subject["access_token"]).pk).update(resource=[SERVICE_API])

    assert exchange(service, subject["access_token"]).status_code == 200


def test_a_token_issued_for_that_api_is_not_accepted_by_a_service_that_does_not_serve_it(member):
    service = exchanging_service(served_audiences=[])
    subject = member_token(member)
    AccessToken.objects.filter(pk=stored(subject["access_token"]).pk).update(resource=[SERVICE_API])

    assert_refused(exchange(service, subject["access_token"]), "invalid_request")


def test_a_service_may_narrow_its_own_member_tokens(member):
    web_app = ApplicationFactory(allowed_scopes=["member-read", "offline_access"])
    TokenExchangePolicy.objects.create(client=web_app, audiences=[FILES_API], scopes=["member-read"])
    own = member_token(member, web_app, "member-read")

    assert exchange(web_app, own["access_token"], resource=FILES_API).status_code == 200


# --- Revocation reaches exchanged tokens -------------------------------------------------------------


def test_sign_out_everywhere_kills_the_exchanged_token(service, subject, member):
    exchanged = exchange(service, subject["access_token"], scope="member-read").json()["access_token"]
    browser = flow_browser(member)

    assert browser.post("/accounts/sessions/end-all").status_code in (200, 302)

    assert api(exchanged).status_code == 401
    assert not AccessToken.objects.filter(user=member).exists()


def test_withdrawing_the_front_ends_tokens_kills_what_was_exchanged_from_them(
    service, subject, member, frontend
):
    exchanged = exchange(service, subject["access_token"], scope="member-read").json()["access_token"]

    revoke_member_tokens(member, application=frontend)

    assert api(exchanged).status_code == 401


def test_withdrawing_a_front_end_without_refresh_tokens_kills_the_exchanged_token(service, member, frontend):
    subject = member_token(member, frontend, "member-read")  # no offline_access: no refresh token
    exchanged = exchange(service, subject["access_token"], scope="member-read").json()["access_token"]

    revoke_member_tokens(member, application=frontend)

    assert api(exchanged).status_code == 401


def test_revoking_the_services_tokens_leaves_the_front_ends_chain_alone(service, subject, member, frontend):
    exchanged = exchange(service, subject["access_token"], scope="member-read").json()["access_token"]

    revoke_member_tokens(member, application=service)

    assert api(exchanged).status_code == 401
    assert api(subject["access_token"]).status_code == 200
    assert flow.refresh(Client(), frontend, subject["refresh_token"]).status_code == 200


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_the_front_end_revoking_the_members_token_revokes_what_was_exchanged_from_it(
    service, subject, frontend, which
):
    exchanged = exchange(service, subject["access_token"], scope="member-read").json()["access_token"]

    revoked = Client().post("/oauth/revoke", {"token": subject[which]}, **flow.app_auth(frontend))

    assert revoked.status_code == 200
    assert api(exchanged).status_code == 401


def test_the_service_revoking_its_exchanged_token_leaves_the_members_token_alone(service, subject):
    exchanged = exchange(service, subject["access_token"], scope="member-read").json()["access_token"]

    assert Client().post("/oauth/revoke", {"token": exchanged}, **flow.app_auth(service)).status_code == 200

    assert api(exchanged).status_code == 401
    assert api(subject["access_token"]).status_code == 200


def test_another_app_revoking_the_members_token_changes_nothing(service, subject):
    exchanged = exchange(service, subject["access_token"], scope="member-read").json()["access_token"]
    stranger = ApplicationFactory()

    Client().post("/oauth/revoke", {"token": subject["access_token"]}, **flow.app_auth(stranger))

    assert api(exchanged).status_code == 200
    assert api(subject["access_token"]).status_code == 200


def test_a_replayed_refresh_token_revokes_the_exchanged_token_with_its_family(service, subject, frontend):
    exchanged = exchange(service, subject["access_token"], scope="member-read").json()["access_token"]
    assert flow.refresh(Client(), frontend, subject["refresh_token"]).status_code == 200

    assert_refused(flow.refresh(Client(), frontend, subject["refresh_token"]), "invalid_grant")

    assert api(exchanged).status_code == 401
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
