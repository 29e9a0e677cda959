"""POST /oauth/par (RFC 9126 §2): a pushed request is validated as the authorization endpoint would,
answered 201 with a single-use request_uri, and refused with the RFC's JSON errors, storing nothing."""

import base64
import hashlib

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.oauth.models import PushedAuthorizationRequest
from tests.oauth.factories import ApplicationFactory, pkce_pair, public_application, service_application
from tests.oauth.flow import authorize_params, basic_auth
from tests.oauth.par import PAR, push

pytestmark = pytest.mark.django_db


def refused(response, status: int = 400) -> str:
    """The error of a refused push, after checking it is the RFC's JSON, not stored and no redirect."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert not PushedAuthorizationRequest.objects.exists()
    return response.json()["error"]


def test_a_confidential_client_gets_a_single_request_uri_that_lives_a_minute(application):
    _, challenge = pkce_pair()

    response = push(application, "openid member-read", challenge, nonce="n-1")

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["expires_in"] == 60
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert len(body["request_uri"].rpartition(":")[2]) >= 43  # 256 random bits
    stored = PushedAuthorizationRequest.objects.get()
    assert stored.application == application
    assert dict(stored.parameters)["nonce"] == "n-1"
    assert dict(stored.parameters)["client_id"] == application.client_id
    assert 59 <= (stored.expires - stored.created_at).total_seconds() <= 60


def test_only_the_request_uris_digest_is_stored(application):
    request_uri = push(application, challenge=pkce_pair()[1]).json()["request_uri"]

    stored = PushedAuthorizationRequest.objects.values_list("request_uri", flat=True).get()

    assert stored == hashlib.sha256(request_uri.encode()).hexdigest()
    assert request_uri not in str(list(PushedAuthorizationRequest.objects.values_list()))


def test_every_push_gets_its_own_request_uri(application):
    _, challenge = pkce_pair()

    first, second = (push(application, challenge=challenge).json()["request_uri"] for _ in range(2))

    assert first != second


def test_the_client_secret_sent_in_the_body_is_not_part_of_the_pushed_request(application):
    data = {
        **authorize_params(application, "member-read", pkce_pair()[1]),
        "client_secret": application.secret,
    }

    response = Client().post(PAR, data)

    assert response.status_code == 201, response.content
    names = [name for name, _value in PushedAuthorizationRequest.objects.get().parameters]
    assert "client_secret" not in names


def test_a_public_client_pushes_with_its_client_id():
    app = public_application()

    response = push(app, challenge=pkce_pair()[1])

    assert response.status_code == 201, response.content


def test_a_wrong_secret_is_invalid_client_and_audited(application):
    data = authorize_params(application, "member-read", pkce_pair()[1])
    del data["client_id"]

    response = Client().post(PAR, data, **basic_auth(application.client_id, "not-the-secret"))

    assert refused(response, status=401) == "invalid_client"
    assert response["WWW-Authenticate"] == 'Basic realm="Latch"'
    event = AuditEvent.objects.get(event=AuditEvent.Event.CLIENT_AUTH_FAILED)
    assert event.client_id == application.client_id


def test_a_confidential_client_without_its_secret_is_invalid_client(application):
    assert refused(Client().post(PAR, authorize_params(application, "member-read", pkce_pair()[1])), 401) == (
        "invalid_client"
    )


def test_an_unknown_client_is_invalid_client():
    data = {
        "response_type": "code",
        "client_id": "nobody",
        "redirect_uri": "https://app.example.org/callback",
    }

    assert refused(Client().post(PAR, data), status=401) == "invalid_client"


def test_repeated_failures_are_throttled_as_at_the_token_endpoint(application, settings):
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_IP = 1
    wrong = basic_auth(application.client_id, "not-the-secret")

    Client().post(PAR, {"response_type": "code"}, **wrong)
    response = Client().post(PAR, {"response_type": "code"}, **wrong)

    assert response.status_code == 429
    assert response.json()["error"] == "temporarily_unavailable"


def test_a_request_uri_inside_a_push_is_refused(application):
    response = push(application, challenge=pkce_pair()[1], request_uri="urn:ietf:params:oauth:request_uri:x")

    assert refused(response) == "invalid_request"


def test_a_request_object_is_not_supported(application):
    response = push(application, challenge=pkce_pair()[1], request="eyJhbGciOiJub25lIn0.e30.")

    assert refused(response) == "request_not_supported"


def test_a_client_id_of_another_client_in_the_body_is_refused(application):
    other = ApplicationFactory()
    data = {**authorize_params(other, "member-read", pkce_pair()[1])}

    response = Client().post(PAR, data, **basic_auth(application.client_id, application.secret))

    assert refused(response) == "invalid_request"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"scope": "member-read checkout-write"}, "invalid_scope"),  # outside the app's allowed scopes
        ({"scope": "no-such-scope"}, "invalid_scope"),
        ({"redirect_uri": "https://evil.example.com/callback"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),  # PKCE is required
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"max_age": "١٢"}, "invalid_request"),  # digits, but not ASCII ones
        ({"resource": "not a uri"}, "invalid_target"),
    ],
)
def test_an_invalid_authorization_request_is_refused_as_the_authorization_endpoint_would(
    application, change, error
):
    data = {**authorize_params(application, "openid member-read", pkce_pair()[1]), **change}
    data = {name: value for name, value in data.items() if value is not None}
    del data["client_id"]

    response = Client().post(PAR, data, **basic_auth(application.client_id, application.secret))

    assert refused(response) == error


def test_a_client_credentials_app_cannot_push_an_authorization_request():
    """As at /oauth/authorize, where it has no redirect URI to be sent back to."""
    kiosk = service_application()
    data = authorize_params(kiosk, "member-read", pkce_pair()[1])
    del data["client_id"]

    response = Client().post(PAR, data, **basic_auth(kiosk.client_id, kiosk.secret))

    assert refused(response) == "invalid_request"


def test_a_duplicated_parameter_is_refused(application):
    body = "response_type=code&scope=openid&scope=member-read&redirect_uri=https%3A%2F%2Fapp.example.org%2Fcb"

    response = Client().post(
        PAR,
        body,
        content_type="application/x-www-form-urlencoded",
        **basic_auth(application.client_id, application.secret),
    )

    assert refused(response) == "invalid_request"
    assert "scope" in response.json()["error_description"]


def test_repeated_resources_are_kept_in_order(application):
    response = push(
        application,
        challenge=pkce_pair()[1],
        resource=["https://api.example.org/a", "https://api.example.org/b"],
    )

    assert response.status_code == 201, response.content
    resources = [
        value for name, value in PushedAuthorizationRequest.objects.get().parameters if name == "resource"
    ]
    assert resources == ["https://api.example.org/a", "https://api.example.org/b"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"response_type": "code"}', "application/json"),
        (b"\xff\xfe\x00garbage=\x80", "application/x-www-form-urlencoded"),
        (b"", "application/x-www-form-urlencoded"),
        (b"%%%===&&&", "application/x-www-form-urlencoded"),
    ],
)
def test_garbage_bodies_are_refused_without_a_server_error(application, body, content_type):
    credentials = base64.b64encode(f"{application.client_id}:{application.secret}".encode()).decode()

    response = Client().post(PAR, body, content_type=content_type, HTTP_AUTHORIZATION=f"Basic {credentials}")

    assert refused(response) in {"invalid_request", "unsupported_response_type"}


def test_credentials_in_the_url_are_refused(application):
    response = Client().post(f"{PAR}?client_secret={application.secret}", {"response_type": "code"})

    assert refused(response) == "invalid_request"


def test_only_post_is_allowed(application):
    assert Client().get(PAR).status_code == 405
