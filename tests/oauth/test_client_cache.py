"""The applications' rows each process keeps between changes (apps/oauth/client_cache.py).

Every change must take effect at the next request, whatever made it; nothing about tokens is kept;
a process that cannot tell others of a change (no shared cache) keeps nothing. The same rules
across real processes: tests/oauth/test_client_cache_live.py.
"""

import logging
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from oauth2_provider.settings import oauth2_settings

from apps.oauth import client_cache, services
from apps.oauth.models import AccessToken, Application
from tests.oauth import flow
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db


def token_request(application: Application, secret: str | None = None, **data: Any):
    auth = flow.basic_auth(application.client_id, secret or application.secret)  # type: ignore[attr-defined]
    return Client().post(
        "/oauth/token", {"grant_type": "client_credentials", "scope": "member-read", **data}, **auth
    )


def application_queries(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if '"oauth_application"' in query["sql"]]


def kept(application: Application) -> Application:
    """The application, once its row is kept: the first request stores a generation, the second
    keeps the row it reads."""
    for _ in range(2):
        assert token_request(application).status_code == 200
    return application


@pytest.fixture
def kiosk() -> Application:
    return kept(service_application())


def test_a_kept_client_is_not_read_from_the_database_again(kiosk):
    with CaptureQueriesContext(connection) as captured:
        response = token_request(kiosk)

    assert response.status_code == 200
    assert application_queries(captured) == []


def test_the_first_request_after_the_generation_is_lost_reads_the_database_and_keeps_nothing(kiosk):
    cache.delete(client_cache.GENERATION_KEY)  # Redis restarted empty, or evicted the key

    with CaptureQueriesContext(connection) as first:
        assert token_request(kiosk).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert token_request(kiosk).status_code == 200

    assert len(application_queries(first)) == 1
    assert len(application_queries(second)) == 1  # kept under the generation the first one stored
    assert cache.get(client_cache.GENERATION_KEY)


def test_a_rotated_secret_works_and_the_old_one_fails_at_the_next_request(kiosk):
    old = kiosk.secret
    new = services.rotate_client_secret(kiosk)

    assert token_request(kiosk, secret=old).status_code == 401
    assert token_request(kiosk, secret=new).status_code == 200


def test_a_deleted_application_is_refused_at_the_next_request(kiosk):
    Application.objects.filter(pk=kiosk.pk).delete()

    response = token_request(kiosk)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_an_application_deleted_by_instance_is_refused_at_the_next_request(kiosk):
    Application.objects.get(pk=kiosk.pk).delete()

    assert token_request(kiosk).status_code == 401


def test_scopes_narrowed_by_a_queryset_update_apply_at_the_next_request(kiosk):
    Application.objects.filter(pk=kiosk.pk).update(allowed_scopes=["checkout-read"])

    response = token_request(kiosk)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_a_bulk_update_applies_at_the_next_request(kiosk):
    kiosk.token_endpoint_auth_method = "client_secret_post"
    Application.objects.bulk_update([kiosk], ["token_endpoint_auth_method"])

    assert token_request(kiosk).status_code == 401  # HTTP Basic is no longer this app's method


def test_an_update_that_changes_no_row_leaves_kept_rows_alone(kiosk):
    Application.objects.filter(pk=-1).update(name="nobody")

    with CaptureQueriesContext(connection) as captured:
        assert token_request(kiosk).status_code == 200

    assert application_queries(captured) == []


def test_a_secret_the_admin_renews_applies_at_the_next_request(kiosk, admin_browser):
    response = admin_browser.post(
        "/admin/oauth/application/", {"action": "new_client_secret", "_selected_action": [kiosk.pk]}
    )

    assert response.status_code == 200
    assert token_request(kiosk).status_code == 401


def test_a_request_changing_its_instance_does_not_change_the_next_requests(kiosk):
    first = client_cache_application(kiosk.client_id)
    first.allowed_scopes.append("participant-write")
    first.client_secret = "changed in memory"

    second = client_cache_application(kiosk.client_id)

    assert second is not first
    assert second.allowed_scopes == ["member-read", "checkout-read"]
    assert second.client_secret != "changed in memory"


def client_cache_application(client_id: str) -> Application:
    with client_cache.request_scope():
        client_cache.get_many([])
        application = client_cache.application(client_id)
    assert application is not None
    return application


def test_a_kept_row_is_read_again_once_its_time_is_up(kiosk, settings, monkeypatch):
    now = client_cache.time.monotonic()
    monkeypatch.setattr(client_cache.time, "monotonic", lambda: now + settings.LATCH_CLIENT_CACHE_SECONDS + 1)

    with CaptureQueriesContext(connection) as captured:
        assert token_request(kiosk).status_code == 200

    assert len(application_queries(captured)) == 1


def test_nothing_is_kept_when_the_cache_is_not_shared_between_processes(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    kiosk = service_application()

    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            assert token_request(kiosk).status_code == 200
        assert len(application_queries(captured)) == 1


def test_nothing_is_kept_when_turned_off(settings):
    settings.LATCH_CLIENT_CACHE_SECONDS = 0
    kiosk = service_application()

    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            assert token_request(kiosk).status_code == 200
        assert len(application_queries(captured)) == 1


def test_outside_a_request_the_database_answers():
    kiosk = service_application()

    with CaptureQueriesContext(connection) as captured:
        assert client_cache.application(kiosk.client_id) == kiosk

    assert len(application_queries(captured)) == 1


def test_unknown_clients_are_not_kept():
    for _ in range(3):
        response = Client().post(
            "/oauth/token", {"grant_type": "client_credentials"}, **flow.basic_auth("nobody", "x")
        )
        assert response.status_code == 401
    assert "nobody" not in client_cache._rows


def test_the_kept_rows_are_bounded(kiosk, monkeypatch):
    monkeypatch.setattr(client_cache, "MAX_ROWS", 1)
    other = kept(service_application())

    assert list(client_cache._rows) == [other.client_id]


def test_tokens_are_never_kept(kiosk):
    """A revoked token fails at once: nothing about a token outlives its row."""
    token = token_request(kiosk).json()["access_token"]
    introspect = kept(service_application(is_resource_server=True))

    AccessToken.objects.all().delete()
    response = Client().post("/oauth/introspect", {"token": token}, **flow.app_auth(introspect))

    assert response.json() == {"active": False}


@pytest.mark.django_db(transaction=True)
def test_the_new_generation_is_stored_when_the_change_commits_not_before():
    kiosk = kept(service_application())
    before = cache.get(client_cache.GENERATION_KEY)

    with transaction.atomic():
        Application.objects.filter(pk=kiosk.pk).update(name="Renamed")
        during = cache.get(client_cache.GENERATION_KEY)

    assert during == before
    assert cache.get(client_cache.GENERATION_KEY) not in (None, before)


@pytest.mark.django_db(transaction=True)
def test_a_change_rolled_back_stores_no_generation():
    kiosk = kept(service_application())
    before = cache.get(client_cache.GENERATION_KEY)

    def rename_then_fail() -> None:
        with transaction.atomic():
            Application.objects.filter(pk=kiosk.pk).update(name="Renamed")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        rename_then_fail()

    assert cache.get(client_cache.GENERATION_KEY) == before


def test_a_change_another_process_made_applies_once_the_generation_changes(kiosk):
    """Another process's change reaches this one only through the generation. Written with SQL,
    as another process's would be for this one: no signal here, nothing forgotten here."""
    new_secret = services.new_client_secret()
    hashed = make_password(new_secret, hasher=oauth2_settings.CLIENT_SECRET_HASHER)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE oauth_application SET client_secret = %s WHERE id = %s", [hashed, kiosk.pk])

    assert token_request(kiosk).status_code == 200  # what psql's change does until the rows expire

    cache.set(client_cache.GENERATION_KEY, "stored by the other process when its change committed")

    assert token_request(kiosk).status_code == 401
    assert token_request(kiosk, secret=new_secret).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_lost_notice_is_logged_and_the_change_stands(monkeypatch, caplog):
    kiosk = kept(service_application())

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(client_cache.cache, "set", refuse)
    with caplog.at_level(logging.ERROR, logger="apps.oauth.client_cache"):
        secret = services.rotate_client_secret(kiosk)

    assert "oauth.client_cache_not_invalidated" in caplog.text
    monkeypatch.undo()
    assert token_request(kiosk, secret=secret).status_code == 200  # this process forgot at once


def test_forget_cached_clients_says_when_there_is_nothing_to_forget(settings):
    settings.LATCH_CLIENT_CACHE_SECONDS = 0
    output = StringIO()

    call_command("forget_cached_clients", stdout=output)

    assert "off" in output.getvalue()


def test_forget_cached_clients_stores_a_new_generation(kiosk):
    before = cache.get(client_cache.GENERATION_KEY)

    call_command("forget_cached_clients", stdout=StringIO())

    assert cache.get(client_cache.GENERATION_KEY) not in (None, before)
    with CaptureQueriesContext(connection) as captured:
        assert token_request(kiosk).status_code == 200
    assert len(application_queries(captured)) == 1
