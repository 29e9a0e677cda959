from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.oauth.models import AccessToken, RefreshToken
from apps.oauth.validators import token_checksum
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory, public_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return UserFactory()


def test_refresh_rotates_both_tokens(member, application):
    first = flow.obtain_tokens(member, application)

    response = flow.refresh(Client(), application, first["refresh_token"])

    assert response.status_code == 200, response.content
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    assert second["member"]["id"] == str(member.public_id)
    # The old access token went with the old refresh token.
    assert not AccessToken.objects.filter(token_checksum=token_checksum(first["access_token"])).exists()


def test_reused_refresh_token_is_refused_and_revokes_the_whole_family(member, application):
    first = flow.obtain_tokens(member, application)
    second = flow.refresh(Client(), application, first["refresh_token"]).json()

    replay = flow.refresh(Client(), application, first["refresh_token"])

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert flow.refresh(Client(), application, second["refresh_token"]).json()["error"] == "invalid_grant"
    api = Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {second['access_token']}")
    assert api.status_code == 401
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()


def test_reuse_revokes_only_its_own_family(member, application):
    ours = flow.obtain_tokens(member, application)
    other_session = flow.obtain_tokens(member, application)
    flow.refresh(Client(), application, ours["refresh_token"])

    flow.refresh(Client(), application, ours["refresh_token"])

    assert flow.refresh(Client(), application, other_session["refresh_token"]).status_code == 200


def test_no_refresh_token_without_offline_access(member, application):
    body = flow.obtain_tokens(member, application, scope="member-read")

    assert "refresh_token" not in body
    assert not RefreshToken.objects.exists()


def test_refresh_may_narrow_but_not_widen_the_scope(member, application):
    first = flow.obtain_tokens(member, application, scope="member-read activity-read offline_access")

    wider = flow.refresh(
        Client(), application, first["refresh_token"], scope="member-read group-read offline_access"
    )
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"

    narrower = flow.refresh(Client(), application, first["refresh_token"], scope="member-read offline_access")
    assert narrower.status_code == 200, narrower.content
    assert narrower.json()["scope"] == "member-read offline_access"


def test_refresh_drops_scopes_the_admin_has_since_withdrawn(member, application):
    first = flow.obtain_tokens(member, application, scope="member-read activity-read offline_access")
    application.allowed_scopes = ["member-read", "offline_access"]
    application.save()

    response = flow.refresh(Client(), application, first["refresh_token"])

    assert response.status_code == 200, response.content
    assert set(response.json()["scope"].split()) == {"member-read", "offline_access"}


def test_refresh_token_expires_after_its_lifetime(member, application, settings):
    first = flow.obtain_tokens(member, application)
    lifetime = settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"]
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=lifetime + 1))

    response = flow.refresh(Client(), application, first["refresh_token"])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_token_of_another_client_is_refused(member, application):
    first = flow.obtain_tokens(member, application)
    thief = ApplicationFactory()

    response = flow.refresh(Client(), thief, first["refresh_token"])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert flow.refresh(Client(), application, first["refresh_token"]).status_code == 200


def test_deactivated_member_cannot_refresh(member, application):
    first = flow.obtain_tokens(member, application)
    member.is_active = False
    member.save()

    response = flow.refresh(Client(), application, first["refresh_token"])

    assert response.json()["error"] == "invalid_grant"


def test_public_client_refreshes_with_its_client_id(member):
    application = public_application()
    first = flow.obtain_tokens(member, application)

    response = flow.refresh(Client(), application, first["refresh_token"])

    assert response.status_code == 200, response.content


def test_confidential_client_must_authenticate_to_refresh(member, application):
    first = flow.obtain_tokens(member, application)

    response = Client().post(
        "/oauth/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": application.client_id,
        },
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert flow.refresh(Client(), application, first["refresh_token"]).status_code == 200


def test_rotation_revokes_the_spent_token_and_links_the_new_access_token_to_it(member, application):
    first = flow.obtain_tokens(member, application)
    spent = RefreshToken.objects.get(token_checksum=token_checksum(first["refresh_token"]))

    second = flow.refresh(Client(), application, first["refresh_token"]).json()

    spent.refresh_from_db()
    assert spent.revoked is not None
    assert spent.access_token_id is None
    issued = AccessToken.objects.get(token_checksum=token_checksum(second["access_token"]))
    assert issued.source_refresh_token_id == spent.pk
    assert issued.token_family == spent.token_family
    successor = RefreshToken.objects.get(token_checksum=token_checksum(second["refresh_token"]))
    assert (successor.access_token_id, successor.token_family) == (issued.pk, spent.token_family)
    assert (successor.amr, successor.acr) == (spent.amr, spent.acr)


def test_the_spent_tokens_resource_carries_over(member, application):
    first = flow.obtain_tokens(member, application)
    AccessToken.objects.update(resource=["https://api.example.org"])
    RefreshToken.objects.update(resource=["https://api.example.org"])

    second = flow.refresh(Client(), application, first["refresh_token"]).json()

    assert AccessToken.objects.get(token_checksum=token_checksum(second["access_token"])).resource == [
        "https://api.example.org"
    ]
    assert RefreshToken.objects.get(token_checksum=token_checksum(second["refresh_token"])).resource == [
        "https://api.example.org"
    ]


def test_a_refresh_token_whose_access_token_was_deleted_is_refused(member, application):
    first = flow.obtain_tokens(member, application)
    AccessToken.objects.all().delete()  # out of band: the refresh token is left an orphan

    response = flow.refresh(Client(), application, first["refresh_token"])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_withdrawn_offline_access_spends_the_refresh_token_without_a_successor(member, application):
    first = flow.obtain_tokens(member, application, scope="member-read offline_access")
    application.allowed_scopes = ["member-read"]
    application.save()

    response = flow.refresh(Client(), application, first["refresh_token"])

    assert response.status_code == 200, response.content
    assert "refresh_token" not in response.json()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert flow.refresh(Client(), application, first["refresh_token"]).status_code == 400
