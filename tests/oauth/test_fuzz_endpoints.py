"""Random forms, headers and query strings at the OAuth endpoints: never a 500, and a rejected
request changes nothing stored."""

import base64
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.accounts.models import User
from apps.oauth.models import (
    AccessToken,
    Application,
    Grant,
    IDToken,
    PushedAuthorizationRequest,
    RefreshToken,
)
from tests.accounts.factories import UserFactory
from tests.oauth import flow
from tests.oauth.factories import REDIRECT_URI, ApplicationFactory, pkce_pair, service_application

pytestmark = pytest.mark.django_db

PARAMETERS = [
    "grant_type", "code", "redirect_uri", "client_id", "client_secret", "scope", "refresh_token",
    "code_verifier", "token", "token_type_hint", "response_type", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt", "allow", "resource", "claims", "max_age", "request_uri",
]  # fmt: skip
PLAUSIBLE = [
    "authorization_code", "refresh_token", "client_credentials", "password", "code", "token", "none",
    "S256", "plain", "openid member-read", "member-read offline_access", REDIRECT_URI, "access_token",
    "true", "", " ", "\x00", "%", "😀", "a" * 5000, "https://evil.example.com/", "{}", "-1",
]  # fmt: skip
fuzz = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def forms(draw, known_values: list[str]) -> list[tuple[str, str]]:
    names = st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=20))
    values = st.one_of(st.sampled_from(PLAUSIBLE + known_values), st.text(max_size=200))
    return draw(st.lists(st.tuples(names, values), max_size=8))


@st.composite
def authorization_headers(draw, known_values: list[str]) -> dict[str, str]:
    kind = draw(st.sampled_from(["none", "basic", "bearer", "garbage"]))
    if kind == "none":
        return {}
    if kind == "basic":
        user = draw(st.one_of(st.sampled_from(known_values), st.text(max_size=40)))
        password = draw(st.one_of(st.sampled_from(known_values), st.text(max_size=80)))
        raw = f"{user}:{password}".encode("utf-8", "surrogatepass")
        return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}
    if kind == "bearer":
        return {"HTTP_AUTHORIZATION": "Bearer " + draw(st.text(max_size=80))}
    return {"HTTP_AUTHORIZATION": draw(st.text(max_size=120))}


def stored_state():
    """Everything a request could wrongly change, in a comparable form."""
    return (
        sorted(AccessToken.objects.values_list("pk", "expires", "scope")),
        sorted(RefreshToken.objects.values_list("pk", "revoked", "access_token_id")),
        sorted(Grant.objects.values_list("pk", "redeemed_at")),
        IDToken.objects.count(),
        PushedAuthorizationRequest.objects.count(),
        sorted(Application.objects.values_list("pk", "client_secret", "allowed_scopes")),
        sorted(User.objects.values_list("pk", "password", "is_active")),
    )


@pytest.fixture
def world(settings):
    """Clients, a signed-in member, a live code, access and refresh tokens to aim at."""
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_IP = settings.LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT = 10**6
    member = UserFactory()
    browser = Client()
    browser.force_login(member)
    web = ApplicationFactory()
    kiosk = service_application()
    code, verifier = flow.get_code(browser, web, "openid member-read offline_access")
    tokens = flow.redeem(Client(), web, code, verifier).json()
    live_code, live_verifier = flow.obtain_code(browser, web, "member-read")
    known = [
        web.client_id, web.secret, kiosk.client_id, kiosk.secret, code, verifier, live_code, live_verifier,
        tokens["access_token"], tokens["refresh_token"], tokens["id_token"],
    ]  # fmt: skip
    return {"browser": browser, "known": known}


def assert_rejected_request_changes_nothing(response, before, accepted: bool) -> None:
    assert response.status_code < 500, response.content
    if not accepted:
        assert stored_state() == before


@pytest.mark.parametrize("endpoint", ["/oauth/token", "/oauth/introspect", "/oauth/revoke", "/oauth/par"])
def test_client_endpoints_survive_random_forms_and_headers(world, endpoint):
    @fuzz
    @given(form=forms(world["known"]), headers=authorization_headers(world["known"]))
    def check(form, headers):
        before = stored_state()
        body = urlencode(form)
        response = Client().post(endpoint, body, content_type="application/x-www-form-urlencoded", **headers)
        # Revocation answers 200 for anything it accepts (RFC 7009), so only its errors must leave no trace.
        # A push that is accepted (201) stores the request.
        assert_rejected_request_changes_nothing(response, before, accepted=response.status_code in (200, 201))

    check()


def test_authorize_survives_random_query_strings_and_forms(world):
    browser = world["browser"]
    _, challenge = pkce_pair()

    @fuzz
    @given(query=forms(world["known"] + [challenge]), form=forms(world["known"]))
    def check(query, form):
        before = stored_state()
        response = browser.get("/oauth/authorize?" + urlencode(query))
        assert_rejected_request_changes_nothing(response, before, accepted=False)
        response = browser.post(
            "/oauth/authorize", urlencode(form), content_type="application/x-www-form-urlencoded"
        )
        issued_a_code = response.status_code == 302 and "code=" in response.get("Location", "")
        assert_rejected_request_changes_nothing(response, before, accepted=issued_a_code)

    check()
