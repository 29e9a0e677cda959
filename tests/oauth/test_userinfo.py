"""The OIDC UserInfo endpoint: claims for the granted scopes only, and nothing without a valid token."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.oauth.models import AccessToken
from apps.oauth.views import TWO_METHODS
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db

METADATA = 'resource_metadata="https://testserver/.well-known/oauth-protected-resource"'
# RFC 6750 §3 and RFC 9449 §7.1: both schemes offered, each naming the metadata (RFC 9728 §5.1).
INVALID_TOKEN = (
    'Bearer realm="Latch", error="invalid_token", error_description="The access token provided is expired, '
    f'revoked, malformed, or invalid for other reasons.", {METADATA}, '
    f'DPoP algs="ES256 RS256 PS256 EdDSA", {METADATA}'
)

# RFC 6750 §3.1: the error goes with the scheme the client used; the other challenge names none.
TWO_METHODS_CHALLENGE = (
    f'Bearer realm="Latch", error="invalid_request", error_description="{TWO_METHODS}", {METADATA}, '
    f'DPoP algs="ES256 RS256 PS256 EdDSA", {METADATA}'
)
FORM = "application/x-www-form-urlencoded"


def access_token_for(browser, application, scope: str) -> str:
    code, verifier = flow.get_code(browser, application, scope)
    response = flow.redeem(Client(), application, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def userinfo(access_token: str | None = None, method: str = "get"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {access_token}"} if access_token else {}
    return getattr(Client(), method)("/oauth/userinfo", **headers)


def assert_no_claims_leak(response) -> None:
    for claim in (b"sub", b"email", b"name", b"ada@example.org", b"Lovelace"):
        assert claim not in response.content


# --- Claims by scope ----------------------------------------------------------------------------


def test_openid_alone_returns_only_sub(browser, application, member):
    response = userinfo(access_token_for(browser, application, "openid"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"sub": str(member.public_id)}


def test_profile_scope_adds_the_name_claims(browser, application, member):
    access_token = access_token_for(browser, application, "openid profile")

    response = userinfo(access_token)

    member.refresh_from_db()
    assert response.json() == {
        "sub": str(member.public_id),
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "updated_at": int(member.updated_at.timestamp()),
    }


def test_email_scope_adds_the_email_claims(browser, application, member):
    response = userinfo(access_token_for(browser, application, "openid email"))

    assert response.json() == {
        "sub": str(member.public_id),
        "email": "ada@example.org",
        "email_verified": True,
    }


def test_profile_and_email_scopes_together(browser, application, member):
    response = userinfo(access_token_for(browser, application, "openid profile email"))

    assert set(response.json()) == {
        "sub",
        "name",
        "given_name",
        "family_name",
        "updated_at",
        "email",
        "email_verified",
    }


def test_api_scopes_add_no_claims(browser, application, member):
    response = userinfo(access_token_for(browser, application, "openid member-read group-read"))

    assert response.json() == {"sub": str(member.public_id)}


def test_sub_is_the_public_id_not_the_database_key(browser, application, member):
    claims = userinfo(access_token_for(browser, application, "openid")).json()

    assert claims["sub"] == str(member.public_id)
    assert claims["sub"] != str(member.pk)


def test_userinfo_shows_the_members_current_details(browser, application, member):
    access_token = access_token_for(browser, application, "openid profile email")
    member.first_name = "Augusta"
    member.email_verified = False
    member.save()

    claims = userinfo(access_token).json()

    assert claims["given_name"] == "Augusta"
    assert claims["name"] == "Augusta Lovelace"
    assert claims["email_verified"] is False


def test_userinfo_answers_post_as_well_as_get(browser, application, member):
    response = userinfo(access_token_for(browser, application, "openid email"), method="post")

    assert response.status_code == 200
    assert response.json() == {
        "sub": str(member.public_id),
        "email": "ada@example.org",
        "email_verified": True,
    }


# --- Refusals -----------------------------------------------------------------------------------


def test_no_token_is_401_with_a_bearer_challenge():
    response = userinfo()

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert_no_claims_leak(response)


def test_unknown_token_is_401_invalid_token():
    response = userinfo("not-a-token")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID_TOKEN


def test_expired_token_is_401(browser, application):
    access_token = access_token_for(browser, application, "openid profile email")
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))

    response = userinfo(access_token)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID_TOKEN
    assert_no_claims_leak(response)


def test_token_without_openid_scope_is_refused_without_claims(browser, application):
    # DOT checks the bearer token against the `openid` scope, so the token is "invalid" for this
    # resource (401 invalid_token) rather than 403 insufficient_scope.
    access_token = access_token_for(browser, application, "profile email member-read")

    response = userinfo(access_token)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID_TOKEN
    # DOT labels this JSON error body text/html, so it is parsed by hand.
    assert json.loads(response.content)["error"] == "invalid_token"
    assert_no_claims_leak(response)


def test_client_credentials_token_cannot_read_userinfo():
    service = service_application()
    access_token = flow.client_credentials(Client(), service, scope="member-read").json()["access_token"]

    response = userinfo(access_token)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID_TOKEN
    assert_no_claims_leak(response)


def test_token_of_a_deactivated_member_is_refused(browser, application, member):
    access_token = access_token_for(browser, application, "openid profile email")
    member.is_active = False
    member.save()

    response = userinfo(access_token)

    assert response.status_code == 401
    assert_no_claims_leak(response)


def test_access_token_in_the_query_string_is_not_accepted(browser, application):
    access_token = access_token_for(browser, application, "openid email")

    response = Client().get("/oauth/userinfo", {"access_token": access_token})

    assert response.status_code == 401
    assert_no_claims_leak(response)


# --- Tokens restricted to resources (RFC 8707) --------------------------------------------------


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param([], id="unrestricted"),
        pytest.param(["http://testserver/"], id="latch-base-url"),
        pytest.param(["http://testserver"], id="latch-origin"),
        pytest.param(["http://testserver/oauth/userinfo"], id="userinfo-url"),
        pytest.param(["https://api.example.org/", "http://testserver/"], id="latch-among-others"),
    ],
)
def test_a_token_for_latch_reads_userinfo_as_it_reads_the_api(browser, application, member, resource):
    """UserInfo compares a restricted token's resources with its absolute URL, as the API does."""
    access_token = access_token_for(browser, application, "openid email")
    AccessToken.objects.update(resource=resource)

    response = userinfo(access_token)

    assert response.status_code == 200
    assert response.json()["sub"] == str(member.public_id)


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param(["https://api.example.org/"], id="another-server"),
        pytest.param(["http://testserver.evil/"], id="a-host-beginning-with-latchs"),
        pytest.param(["http://testserver:8000/"], id="another-port"),
        pytest.param(["http://testserver/api/v1"], id="latchs-api-only"),
        pytest.param(["http://testserver/oauth/user"], id="a-path-beginning-with-userinfos"),
        pytest.param(["urn:example:latch"], id="not-a-url"),
    ],
)
def test_a_token_for_another_resource_is_401_invalid_token_at_userinfo(browser, application, resource):
    access_token = access_token_for(browser, application, "openid email")
    AccessToken.objects.update(resource=resource)

    response = userinfo(access_token)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID_TOKEN
    assert json.loads(response.content)["error"] == "invalid_token"
    assert_no_claims_leak(response)


def test_a_token_for_the_issuer_reads_userinfo_over_https(browser, application, member, settings):
    """What a client gets when it asks for the resource Latch's metadata names for UserInfo (the
    issuer, RFC 9728 §3.3), at the URL it is deployed at."""
    access_token = access_token_for(browser, application, "openid")
    AccessToken.objects.update(resource=[settings.LATCH_ISSUER])

    response = Client().get("/oauth/userinfo", secure=True, HTTP_AUTHORIZATION=f"Bearer {access_token}")

    assert response.status_code == 200
    assert response.json() == {"sub": str(member.public_id)}


# --- One method per request (RFC 6750 §2) -------------------------------------------------------


def header_and_body(header_token: str, body: str, method: str = "POST", scheme: str = "Bearer"):
    return Client().generic(
        method, "/oauth/userinfo", body, content_type=FORM, HTTP_AUTHORIZATION=f"{scheme} {header_token}"
    )


@pytest.mark.parametrize(
    "body_token",
    [
        pytest.param(None, id="the-same-token"),
        pytest.param("not-a-token", id="another-token"),
        pytest.param("", id="an-empty-access-token"),
    ],
)
def test_a_token_in_the_header_and_the_body_is_400_invalid_request(browser, application, body_token):
    """An empty `access_token=` is a second method all the same: the client sent both."""
    access_token = access_token_for(browser, application, "openid email")
    body = f"access_token={access_token if body_token is None else body_token}"

    response = header_and_body(access_token, body)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": TWO_METHODS}
    assert response["WWW-Authenticate"] == TWO_METHODS_CHALLENGE
    assert_no_claims_leak(response)


def test_a_dpop_header_and_a_body_token_put_invalid_request_on_the_dpop_challenge(browser, application):
    """The refusal is about the two methods, not about the missing proof."""
    access_token = access_token_for(browser, application, "openid")

    response = header_and_body(access_token, f"access_token={access_token}", scheme="DPoP")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    bearer, _, dpop = response["WWW-Authenticate"].partition(", DPoP ")
    assert "error=" not in bearer
    assert 'error="invalid_request"' in dpop


def test_a_refused_two_method_request_changes_nothing(browser, application, member):
    access_token = access_token_for(browser, application, "openid email")
    tokens_before = list(AccessToken.objects.values_list("id", "expires", "scope", "updated"))
    audit_before = AuditEvent.objects.count()

    assert header_and_body(access_token, f"access_token={access_token}").status_code == 400

    assert list(AccessToken.objects.values_list("id", "expires", "scope", "updated")) == tokens_before
    assert AuditEvent.objects.count() == audit_before
    assert userinfo(access_token, method="post").json()["sub"] == str(member.public_id)


def test_a_token_in_the_body_alone_reads_userinfo(browser, application, member):
    """RFC 6750 §2.2, which OIDC Core §5.3.1 asks UserInfo to accept."""
    access_token = access_token_for(browser, application, "openid email")

    response = Client().post("/oauth/userinfo", {"access_token": access_token})

    assert response.status_code == 200
    assert response.json()["sub"] == str(member.public_id)


def test_a_header_token_beside_a_body_without_access_token_reads_userinfo(browser, application, member):
    """Only `access_token` makes the body a second method."""
    access_token = access_token_for(browser, application, "openid")

    response = header_and_body(access_token, "scope=openid&claims=")

    assert response.status_code == 200
    assert response.json() == {"sub": str(member.public_id)}


def test_a_get_has_no_form_body_so_its_header_token_is_read(browser, application, member):
    """RFC 6750 §2.2 forbids the form-body method with GET, and Django parses no body on a GET:
    the header is the request's one method, and the body is ignored, as it was."""
    access_token = access_token_for(browser, application, "openid")

    response = header_and_body(access_token, "access_token=not-a-token", method="GET")

    assert response.status_code == 200
    assert response.json() == {"sub": str(member.public_id)}


def test_a_token_in_the_url_is_refused_as_such_even_with_a_header_and_a_body(browser, application):
    access_token = access_token_for(browser, application, "openid")

    response = Client().post(
        f"/oauth/userinfo?access_token={access_token}",
        f"access_token={access_token}",
        content_type=FORM,
        HTTP_AUTHORIZATION=f"Bearer {access_token}",
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="Latch", error="invalid_request"'
    assert_no_claims_leak(response)
