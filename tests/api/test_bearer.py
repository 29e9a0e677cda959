"""apps/oauth/bearer.py on its own: what the differential test takes for granted."""

from unittest import mock

import pytest
from django.test import Client, RequestFactory
from django.urls import resolve
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import INVALID_HEX_PATTERN

from apps.oauth import bearer
from apps.oauth.models import AccessToken
from apps.oauth.validators import token_checksum
from apps.oauth.views import UserInfoView
from tests.api.reference import ReferenceAccessTokenAuthentication, ReferenceUserInfoView, reference_path
from tests.api.tokens import bearer as bearer_header
from tests.api.tokens import issue_token
from tests.members.factories import member_with_login

pytestmark = pytest.mark.django_db

ME = "/api/v1/members/me"


def test_a_broken_escape_is_what_oauthlib_cannot_decode():
    """The pattern is oauthlib's: DOT answered 400 exactly where oauthlib raised."""
    assert bearer._BROKEN_ESCAPE.pattern == INVALID_HEX_PATTERN.pattern


def test_no_remote_introspection_is_configured():
    """DOT's path asks a remote server about a token it does not find when this is set; Latch is
    the authorization server, and bearer.verify never asks anyone."""
    assert not oauth2_settings.RESOURCE_SERVER_INTROSPECTION_URL


def test_the_check_is_one_statement(django_assert_num_queries):
    token = issue_token("member-read", user=member_with_login().user)
    request = RequestFactory().get(ME, **bearer_header(token))

    with django_assert_num_queries(1):
        verdict = bearer.verify(request, form=request.POST)

    assert verdict.valid
    assert verdict.access_token.user.is_active  # loaded with the token, no second statement


def test_a_token_revoked_between_two_requests_is_refused_at_the_second():
    """Nothing about a token is remembered between requests: the lookup happens every time."""
    token = issue_token("member-read", user=member_with_login().user)
    client = Client()
    assert client.get(ME, **bearer_header(token)).status_code == 200

    AccessToken.objects.filter(token_checksum=token_checksum(token)).delete()

    response = client.get(ME, **bearer_header(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_a_member_deactivated_between_two_requests_is_refused_at_the_second():
    member = member_with_login().user
    token = issue_token("member-read", user=member)
    client = Client()
    assert client.get(ME, **bearer_header(token)).status_code == 200

    member.is_active = False
    member.save()

    assert client.get(ME, **bearer_header(token)).status_code == 401


def test_a_token_in_a_form_body_is_read_where_the_resource_parses_forms():
    """RFC 6750 §2.2, as oauthlib read it: only without an Authorization header (UserInfo refuses
    a body token beside one: tests/oauth/test_userinfo.py). The API parses JSON only, so there a
    form body is 415 before any token is read."""
    token = issue_token("openid", user=member_with_login().user)

    assert Client().post("/oauth/userinfo", {"access_token": token}).status_code == 200
    assert (
        Client()
        .post(ME, f"access_token={token}", content_type="application/x-www-form-urlencoded")
        .status_code
        == 415
    )


def test_a_broken_escape_at_userinfo_is_400_where_dot_crashed():
    """The one answer that differs from DOT's path on purpose: oauthlib's ValueError escaped DOT's
    UserInfo as a 500; Latch answers 400, as DOT's API did."""
    token = issue_token("openid", user=member_with_login().user)
    request = {"QUERY_STRING": "x=%zz", **bearer_header(token)}
    with reference_path(), pytest.raises(ValueError, match="Invalid hex encoding"):
        Client().get("/oauth/userinfo", **request)

    assert Client().get("/oauth/userinfo", **request).status_code == 400


def test_the_reference_path_is_the_one_the_differential_test_runs():
    """Else the differential test would compare Latch's path with itself."""
    token = issue_token("openid member-read", user=member_with_login().user)
    with reference_path():
        assert resolve("/oauth/userinfo").func.view_class is ReferenceUserInfoView
        with mock.patch.object(
            ReferenceAccessTokenAuthentication,
            "authenticate",
            autospec=True,
            side_effect=ReferenceAccessTokenAuthentication.authenticate,
        ) as authenticate:
            assert Client().get(ME, **bearer_header(token)).status_code == 200
        assert authenticate.called
    assert resolve("/oauth/userinfo").func.view_class is UserInfoView


@pytest.mark.parametrize(("method", "path"), [("GET", ME), ("POST", "/api/v1/checkout/charges")])
def test_the_api_answers_a_header_token_beside_a_form_body_token_as_before(method, path):
    """UserInfo's two-methods refusal is UserInfo's alone: the API never parses the form body."""
    token = issue_token("member-read checkout-write", user=member_with_login().user)
    request = {"content_type": "application/x-www-form-urlencoded", **bearer_header(token)}

    response = Client().generic(method, path, f"access_token={token}", **request)
    with reference_path():
        reference = Client().generic(method, path, f"access_token={token}", **request)

    assert response.status_code == reference.status_code == 415
    assert response.json() == reference.json()
