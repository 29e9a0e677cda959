"""RFC 6749 §2.3.1: client credentials never in the URL, where access logs and proxies keep them."""

import logging
from urllib.parse import urlencode

import pytest
from django.test import Client

from apps.audit.logging import JSONFormatter
from apps.audit.models import AuditEvent
from apps.oauth.models import AccessToken
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"]
FORM = {"grant_type": "client_credentials", "scope": "member-read", "token": "some-token"}


@pytest.fixture
def kiosk():
    return service_application()


def post_with_query(path: str, query: dict[str, str], **headers):
    return Client(REMOTE_ADDR="203.0.113.7").post(f"{path}?{urlencode(query)}", FORM, **headers)


def assert_invalid_request(response) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json()["error"] == "invalid_request"
    assert "URL" in response.json()["error_description"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_client_secret_in_the_url_is_refused_with_invalid_request(kiosk, path):
    response = post_with_query(path, {"client_id": kiosk.client_id, "client_secret": kiosk.secret})

    assert_invalid_request(response)
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("name", ["client_id", "client_secret", "client_assertion", "client_assertion_type"])
def test_any_client_credential_in_the_url_is_refused_even_beside_a_valid_basic_header(kiosk, path, name):
    response = post_with_query(path, {name: "x"}, **flow.app_auth(kiosk))

    assert_invalid_request(response)
    assert not AccessToken.objects.exists()


def test_credentials_in_the_url_are_refused_before_throttling_counts_them(kiosk, settings):
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_IP = 1
    settings.LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT = 1
    for _ in range(3):
        assert_invalid_request(
            post_with_query("/oauth/token", {"client_id": kiosk.client_id, "client_secret": "x"})
        )

    response = Client(REMOTE_ADDR="203.0.113.7").post("/oauth/token", FORM, **flow.app_auth(kiosk))

    assert response.status_code == 200, response.content
    assert not AuditEvent.objects.filter(event__in=["client.auth_failed", "client.throttled"]).exists()


def configured_console_handler() -> logging.Handler:
    (handler,) = [handler for handler in logging.getLogger().handlers if handler.get_name() == "console"]
    return handler


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_secret_in_the_url_reaches_no_log_line_and_no_audit_row(kiosk, path, caplog):
    caplog.set_level(logging.DEBUG)

    response = post_with_query(path, {"client_id": kiosk.client_id, "client_secret": kiosk.secret})

    assert_invalid_request(response)
    assert caplog.records, "the refused request is logged (django.request's Bad Request)"
    console = configured_console_handler()
    for record in caplog.records:
        if not console.filter(record):
            continue
        # Both of Latch's formats (LATCH_LOG_FORMAT), and what any formatter could read off the record.
        lines = [console.format(record), JSONFormatter().format(record), repr(vars(record))]
        for line in lines:
            assert kiosk.secret not in line, (record.name, line)
    for row in AuditEvent.objects.all():
        assert kiosk.secret not in str(row.details)
        assert kiosk.secret not in row.client_id + row.actor_label
