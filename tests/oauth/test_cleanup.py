"""Token cleanup: only rows nobody can use go, reuse detection survives, batches stay small."""

import logging
import secrets
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.oauth import cleanup
from apps.oauth.models import (
    AccessToken,
    DeviceGrant,
    Grant,
    IDToken,
    PushedAuthorizationRequest,
    RefreshToken,
)
from apps.oauth.validators import LatchOAuth2Validator, token_checksum
from tests.accounts.factories import UserFactory
from tests.concurrency import race
from tests.oauth import flow
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
REFRESH_LIFETIME = timedelta(days=30)  # settings: LATCH_REFRESH_TOKEN_SECONDS' default
SESSION = timedelta(days=14)  # settings: LATCH_SESSION_SECONDS' default


@pytest.fixture(autouse=True)
def now_is_this_tests_start():
    """The rows are made relative to NOW, and `manage.py cleanup_tokens` runs at the real time: NOW
    must be this test's start, not the module's import (a slow suite aged a 30-second code past it)."""
    global NOW
    NOW = timezone.now()


@pytest.fixture
def owner():
    return UserFactory(), ApplicationFactory()


def access_token(owner, expires, **fields) -> AccessToken:
    user, application = owner
    return AccessToken.objects.create(
        user=user, application=application, token_checksum=secrets.token_hex(32), expires=expires, **fields
    )


def refresh_token(owner, access, revoked=None) -> RefreshToken:
    user, application = owner
    return RefreshToken.objects.create(
        user=user,
        application=application,
        token_checksum=secrets.token_hex(32),
        access_token=access,
        revoked=revoked,
        token_family=uuid.uuid4(),
    )


def grant(owner, expires, redeemed_at=None) -> Grant:
    user, application = owner
    return Grant.objects.create(
        user=user,
        application=application,
        code=secrets.token_urlsafe(16),
        expires=expires,
        redirect_uri="https://app.example.org/callback",
        redeemed_at=redeemed_at,
    )


def device_grant(owner, expires, status=DeviceGrant.AUTHORIZATION_PENDING) -> DeviceGrant:
    _user, application = owner
    return DeviceGrant.objects.create(
        client_id=application.client_id,
        device_code=secrets.token_urlsafe(32),
        user_code=secrets.token_hex(32),
        expires=expires,
        status=status,
    )


def id_token(owner, expires) -> IDToken:
    user, application = owner
    return IDToken.objects.create(user=user, application=application, expires=expires)


def pushed_request(owner, expires, answered_at=None) -> PushedAuthorizationRequest:
    _user, application = owner
    return PushedAuthorizationRequest.objects.create(
        request_uri=secrets.token_urlsafe(16),
        application=application,
        expires=expires,
        answered_at=answered_at,
    )


def survivors(model) -> set[int]:
    return set(model.objects.values_list("pk", flat=True))


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("cleanup_tokens", "--pause", "0", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, list[tuple]]:
    return {
        model.__name__: sorted(model.objects.values_list())
        for model in (AccessToken, RefreshToken, IDToken, Grant, PushedAuthorizationRequest, DeviceGrant)
    }


@pytest.fixture
def mix(owner):
    """One row of every case, named by what it is; KEPT says which survive a cleanup at NOW."""
    rows = {}
    rows["access_live"] = access_token(owner, NOW + HOUR)
    rows["access_expired"] = access_token(owner, NOW - MINUTE)
    # An expired access token whose refresh token is still usable: both must stay.
    rows["access_of_usable_refresh"] = access_token(owner, NOW - REFRESH_LIFETIME + HOUR)
    rows["refresh_usable"] = refresh_token(owner, rows["access_of_usable_refresh"])
    # A refresh token whose access token expired more than its lifetime ago is dead; so is the pair.
    rows["access_of_dead_refresh"] = access_token(owner, NOW - REFRESH_LIFETIME - HOUR)
    rows["refresh_dead"] = refresh_token(owner, rows["access_of_dead_refresh"])
    rows["refresh_orphan"] = refresh_token(owner, None)
    rows["tombstone_recent"] = refresh_token(owner, None, revoked=NOW - DAY)
    # Revoked longer ago than the refresh lifetime, but not longer than lifetime + access token lifetime:
    # had it been revoked soon after it was issued, it could otherwise still be in use.
    rows["tombstone_past_lifetime"] = refresh_token(owner, None, revoked=NOW - REFRESH_LIFETIME - 30 * MINUTE)
    rows["tombstone_old"] = refresh_token(owner, None, revoked=NOW - REFRESH_LIFETIME - 2 * HOUR)
    # The live access token minted by rotating `tombstone_old`: it stays, without the dangling link.
    rows["access_minted_from_old_tombstone"] = access_token(
        owner, NOW + HOUR, source_refresh_token=rows["tombstone_old"]
    )
    rows["code_live"] = grant(owner, NOW + timedelta(seconds=30))
    rows["code_redeemed_recent"] = grant(owner, NOW - 30 * MINUTE, redeemed_at=NOW - 31 * MINUTE)
    rows["code_expired_old"] = grant(owner, NOW - 2 * HOUR)
    rows["code_redeemed_old"] = grant(owner, NOW - 2 * HOUR, redeemed_at=NOW - 2 * HOUR)
    rows["device_live"] = device_grant(owner, NOW + MINUTE)
    # An expired device code is still told `expired_token` for an hour, then forgotten.
    rows["device_expired_recent"] = device_grant(owner, NOW - 30 * MINUTE, status=DeviceGrant.AUTHORIZED)
    rows["device_expired_old"] = device_grant(owner, NOW - 2 * HOUR)
    rows["id_token_live"] = id_token(owner, NOW + HOUR)
    # An expired id_token is still accepted as a logout hint, for as long as a session lasts.
    rows["id_token_expired_recent"] = id_token(owner, NOW - HOUR)
    rows["id_token_expired_old"] = id_token(owner, NOW - SESSION - HOUR)
    rows["id_token_of_kept_access"] = id_token(owner, NOW - SESSION - HOUR)
    rows["access_of_usable_refresh"].id_token = rows["id_token_of_kept_access"]
    rows["access_of_usable_refresh"].save()
    rows["pushed_live"] = pushed_request(owner, NOW + MINUTE)
    # Expired, but a consent page shown just before may still be answered (par.RETENTION, 10 min).
    rows["pushed_expired_recent"] = pushed_request(owner, NOW - 5 * MINUTE)
    rows["pushed_expired_old"] = pushed_request(owner, NOW - 11 * MINUTE)
    rows["pushed_answered_old"] = pushed_request(owner, NOW - 11 * MINUTE, answered_at=NOW - 12 * MINUTE)
    return rows


KEPT = {
    AccessToken: {"access_live", "access_of_usable_refresh", "access_minted_from_old_tombstone"},
    RefreshToken: {"refresh_usable", "tombstone_recent", "tombstone_past_lifetime"},
    Grant: {"code_live", "code_redeemed_recent"},
    DeviceGrant: {"device_live", "device_expired_recent"},
    IDToken: {"id_token_live", "id_token_expired_recent", "id_token_of_kept_access"},
    PushedAuthorizationRequest: {"pushed_live", "pushed_expired_recent"},
}


def expected(mix, model) -> set[int]:
    return {mix[name].pk for name in KEPT[model]}


def test_cleanup_deletes_exactly_the_rows_past_their_retention(mix):
    result = cleanup.tokens_cleanup(now=NOW, pause=0)

    for model in KEPT:
        assert survivors(model) == expected(mix, model), model.__name__
    assert {name: tally.deleted for name, tally in result.tallies.items()} == {
        "AccessToken": 2,  # access_expired, access_of_dead_refresh
        "RefreshToken": 3,  # refresh_dead, refresh_orphan, tombstone_old
        "IDToken": 1,
        "Grant": 2,
        "PushedAuthorizationRequest": 2,
        "DeviceGrant": 1,
    }
    assert result.complete is True
    minted = AccessToken.objects.get(pk=mix["access_minted_from_old_tombstone"].pk)
    assert minted.source_refresh_token_id is None
    assert RefreshToken.objects.get(pk=mix["refresh_usable"].pk).access_token_id == (
        mix["access_of_usable_refresh"].pk
    )


def test_a_tombstone_is_kept_as_long_as_an_apps_longer_access_token_lifetime(owner):
    """An app's own access token lifetime (here 3 h, the default is 1 h) lengthens the time a rotated
    refresh token may still be replayed, so its tombstone stays that much longer."""
    ApplicationFactory(access_token_lifetime=3 * 3600)
    within = refresh_token(owner, None, revoked=NOW - REFRESH_LIFETIME - 2 * HOUR)
    beyond = refresh_token(owner, None, revoked=NOW - REFRESH_LIFETIME - 4 * HOUR)

    cleanup.tokens_cleanup(now=NOW, pause=0)

    assert survivors(RefreshToken) == {within.pk}
    assert beyond.pk not in survivors(RefreshToken)


def test_a_second_run_finds_nothing_more(mix):
    cleanup.tokens_cleanup(now=NOW, pause=0)

    again = cleanup.tokens_cleanup(now=NOW, pause=0)

    assert again.deleted == 0
    assert again.batches == 8  # one empty batch per kind of dead row


def test_dry_run_counts_what_a_real_run_deletes_and_changes_nothing(mix):
    before = snapshot()

    output = run_command("--dry-run")

    assert snapshot() == before
    lines = [line.split(" (")[0] for line in output.splitlines()]
    assert lines == [
        "AccessToken: would remove 2",
        "RefreshToken: would remove 3",
        "IDToken: would remove 1",
        "Grant: would remove 2",
        "PushedAuthorizationRequest: would remove 2",
        "DeviceGrant: would remove 1",
    ]


def test_without_a_refresh_token_lifetime_refresh_tokens_and_their_access_tokens_are_kept(mix, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REFRESH_TOKEN_EXPIRE_SECONDS": None}

    cleanup.tokens_cleanup(now=NOW, pause=0)

    kept_refresh = {"refresh_usable", "refresh_dead", "tombstone_recent", "tombstone_past_lifetime"}
    assert survivors(RefreshToken) == {mix[name].pk for name in kept_refresh | {"tombstone_old"}}
    assert mix["access_of_dead_refresh"].pk in survivors(AccessToken)
    # An orphan can never be used, with or without a lifetime.
    assert mix["refresh_orphan"].pk not in survivors(RefreshToken)


# --- With real flows ---------------------------------------------------------------------------


def test_a_rotated_refresh_token_kept_by_cleanup_still_revokes_its_family_when_replayed(member, application):
    first = flow.obtain_tokens(member, application)
    second = flow.refresh(Client(), application, first["refresh_token"]).json()
    tombstone = RefreshToken.objects.get(token_checksum=token_checksum(first["refresh_token"]))
    assert tombstone.revoked is not None

    # A month later the tombstone is still within its retention (lifetime + access token lifetime).
    later = cleanup.tokens_cleanup(now=timezone.now() + REFRESH_LIFETIME, pause=0)
    assert later.tallies["RefreshToken"].deleted == 0
    assert RefreshToken.objects.filter(pk=tombstone.pk).exists()
    replay = flow.refresh(Client(), application, first["refresh_token"])

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    refused = flow.refresh(Client(), application, second["refresh_token"])
    assert refused.json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert not AccessToken.objects.exists()


def test_cleanup_keeps_the_expired_access_token_of_a_usable_refresh_token_so_refresh_still_works(
    member, application
):
    first = flow.obtain_tokens(member, application)

    # Cleanup as if a day had passed: the access token has expired, its refresh token has not.
    result = cleanup.tokens_cleanup(now=timezone.now() + DAY, pause=0)

    assert (result.tallies["AccessToken"].deleted, result.tallies["RefreshToken"].deleted) == (0, 0)
    assert result.tallies["Grant"].deleted == 1  # the redeemed code, a day past its expiry
    response = flow.refresh(Client(), application, first["refresh_token"])
    assert response.status_code == 200, response.content


def test_cleanup_after_the_retention_removes_the_whole_dead_family(member, application):
    first = flow.obtain_tokens(member, application)
    flow.refresh(Client(), application, first["refresh_token"])

    result = cleanup.tokens_cleanup(now=timezone.now() + REFRESH_LIFETIME + 2 * HOUR, pause=0)

    assert result.tallies["RefreshToken"].deleted == 2  # the tombstone and the expired current token
    assert result.tallies["AccessToken"].deleted == 1
    assert result.tallies["Grant"].deleted == 1
    assert not RefreshToken.objects.exists()
    assert not AccessToken.objects.exists()
    replay = flow.refresh(Client(), application, first["refresh_token"])
    assert replay.json()["error"] == "invalid_grant"


def logout_page(browser: Client, id_token_hint: str):
    query = urlencode(
        {"id_token_hint": id_token_hint, "post_logout_redirect_uri": "https://app.example.org/"}
    )
    return browser.get("/oauth/logout?" + query)


def test_an_expired_id_token_stays_a_valid_logout_hint_until_the_session_could_have_ended(
    member, application
):
    browser = Client()
    browser.force_login(member)
    code, verifier = flow.get_code(browser, application, "openid")
    hint = flow.redeem(Client(), application, code, verifier).json()["id_token"]

    # Two hours on, the access token has gone but the id_token is kept for logout.
    cleanup.tokens_cleanup(now=timezone.now() + 2 * HOUR, pause=0)
    assert not AccessToken.objects.exists()
    assert logout_page(browser, hint).status_code == 200

    cleanup.tokens_cleanup(now=timezone.now() + SESSION + 2 * HOUR, pause=0)
    assert not IDToken.objects.exists()
    assert logout_page(browser, hint).status_code == 400


# --- Batches -----------------------------------------------------------------------------------


@pytest.fixture
def expired_access_tokens(owner):
    user, application = owner
    AccessToken.objects.bulk_create(
        AccessToken(
            user=user, application=application, token_checksum=f"{n:064x}", expires=NOW - timedelta(seconds=n)
        )
        for n in range(1, 2501)
    )


def access_token_deletes(queries) -> list[str]:
    return [query["sql"] for query in queries if 'DELETE FROM "oauth_accesstoken"' in query["sql"]]


def test_2500_expired_rows_go_in_batches_of_500_each_one_short_statement(expired_access_tokens):
    with CaptureQueriesContext(connection) as queries:
        output = run_command("--batch-size", "500")

    assert AccessToken.objects.count() == 0
    deletes = access_token_deletes(queries)
    # Five full batches, then one that finds fewer than 500 rows and ends the sweep.
    assert len(deletes) == 6
    assert "AccessToken: removed 2500 in 6 batches" in output
    # The keys are chosen inside the statement: no IN list of 500 literals is ever sent.
    assert max(len(sql) for sql in deletes) < 1000


def test_batches_resume_correctly_among_rows_that_share_one_expiry_time(owner):
    user, application = owner
    tokens = AccessToken.objects.bulk_create(
        AccessToken(user=user, application=application, token_checksum=f"{n:064x}", expires=NOW - MINUTE)
        for n in range(1200)
    )
    # Every fourth one still has a usable refresh token, so each batch steps over some kept rows.
    RefreshToken.objects.bulk_create(
        RefreshToken(
            user=user,
            application=application,
            token_checksum=f"{n:064x}",
            access_token=token,
            token_family=None,
        )
        for n, token in enumerate(tokens[::4])
    )

    result = cleanup.tokens_cleanup(batch_size=500, pause=0, now=NOW)

    assert result.tallies["AccessToken"].deleted == 900
    assert (result.tallies["AccessToken"].batches, AccessToken.objects.count()) == (2, 300)
    assert not AccessToken.objects.filter(refresh_token__isnull=True).exists()


def test_batches_pause_between_them_and_stop_at_the_time_limit(expired_access_tokens):
    clock = [0.0]
    pauses = []

    def sleep(seconds):
        pauses.append(seconds)
        clock[0] += seconds

    result = cleanup.tokens_cleanup(
        batch_size=500, pause=2, max_seconds=5, now=NOW, clock=lambda: clock[0], sleep=sleep
    )

    # Batches at t=0, 2 and 4; at t=6 the time is up and the rest waits for the next run.
    assert result.tallies["AccessToken"].batches == 3
    assert AccessToken.objects.count() == 1000
    assert pauses == [2, 2, 2]
    assert result.complete is False


def test_max_seconds_zero_deletes_nothing_and_says_so(expired_access_tokens):
    output = run_command("--max-seconds", "0")

    assert AccessToken.objects.count() == 2500
    assert "Stopped after" in output
    assert "AccessToken: removed 0 in 0 batches" in output


def test_each_run_logs_one_line(expired_access_tokens, caplog):
    with caplog.at_level(logging.INFO, logger="apps.oauth.cleanup"):
        run_command("--batch-size", "1000")

    lines = [record.getMessage() for record in caplog.records if record.name == "apps.oauth.cleanup"]
    assert len(lines) == 1
    assert lines[0].startswith(
        "oauth.tokens_cleaned access_tokens=2500 refresh_tokens=0 id_tokens=0 grants=0 pushed_requests=0 "
        "device_grants=0 batches=10 "
    )
    assert lines[0].endswith(" complete=True dry_run=False")


@pytest.mark.parametrize(
    "args", [("--batch-size", "0"), ("--batch-size", "x"), ("--pause", "-1"), ("--max-seconds", "nan")]
)
def test_bad_options_are_refused(args, expired_access_tokens):
    with pytest.raises(CommandError):
        run_command(*args)
    assert AccessToken.objects.count() == 2500


def test_every_reference_to_a_token_is_handled():
    assert cleanup.unhandled_references(cleanup.sweeps()) == []


def test_cleanup_refuses_to_run_when_a_reference_would_dangle(monkeypatch, mix):
    careless = [replace(sweep, unlink=()) for sweep in cleanup.sweeps()]
    monkeypatch.setattr(cleanup, "sweeps", lambda: careless)
    before = snapshot()

    with pytest.raises(ImproperlyConfigured, match=r"AccessToken\.source_refresh_token -> RefreshToken"):
        cleanup.tokens_cleanup(now=NOW, pause=0)

    assert snapshot() == before


# --- Concurrency (PostgreSQL) --------------------------------------------------------------------


def clean_while_holding(lock):
    """Run cleanup while another transaction holds the row locks `lock` takes (then calls `ready`)."""
    ready, release = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():
            lock(ready.set)
            release.wait(timeout=30)

    def cleaner():
        try:
            assert ready.wait(timeout=30)
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '5s'")  # a wait would fail the test, not hang it
            return cleanup.tokens_cleanup(pause=0)
        finally:
            release.set()

    return race([holder, cleaner])[1]


@pytest.mark.concurrency
@pytest.mark.usefixtures("postgres_only")
def test_cleanup_skips_rows_a_request_holds_instead_of_waiting_for_them(owner):
    held_access = access_token(owner, NOW - HOUR)
    held_tombstone = refresh_token(owner, None, revoked=NOW - REFRESH_LIFETIME - DAY)
    other_access = access_token(owner, NOW - HOUR)
    other_tombstone = refresh_token(owner, None, revoked=NOW - REFRESH_LIFETIME - DAY)

    def lock(ready):
        AccessToken.objects.select_for_update().get(pk=held_access.pk)
        RefreshToken.objects.select_for_update().get(pk=held_tombstone.pk)
        ready()

    result = clean_while_holding(lock)

    assert not isinstance(result, Exception), result
    assert result.tallies["AccessToken"].deleted == 1
    assert result.tallies["RefreshToken"].deleted == 1
    assert survivors(AccessToken) == {held_access.pk}
    assert survivors(RefreshToken) == {held_tombstone.pk}
    assert other_access.pk not in survivors(AccessToken)
    assert other_tombstone.pk not in survivors(RefreshToken)


@pytest.mark.concurrency
@pytest.mark.usefixtures("postgres_only")
def test_cleanup_waits_out_a_rotation_that_deletes_the_token_it_unlinks(member, application, monkeypatch):
    """The one place cleanup waits: unlinking the access token minted from a tombstone it deletes.

    Here that access token is being rotated away at the same moment. The rotation holds it (DOT
    locks refresh token, then access token; cleanup too), so cleanup waits for its commit, finds
    the row gone and goes on: no deadlock, and the new tokens work.
    """
    first = flow.obtain_tokens(member, application)
    second = flow.refresh(Client(), application, first["refresh_token"]).json()
    RefreshToken.objects.filter(revoked__isnull=False).update(revoked=NOW - REFRESH_LIFETIME - DAY)
    rotated = threading.Event()
    original = LatchOAuth2Validator.save_bearer_token

    def slow(self, token, request, *args, **kwargs):
        saved = original(self, token, request, *args, **kwargs)
        rotated.set()
        time.sleep(1)  # the token request commits (and releases its locks) only after this
        return saved

    monkeypatch.setattr(LatchOAuth2Validator, "save_bearer_token", slow)

    def clean():
        assert rotated.wait(timeout=30)
        return cleanup.tokens_cleanup(pause=0)

    refreshed, result = race([lambda: flow.refresh(Client(), application, second["refresh_token"]), clean])

    assert not isinstance(result, Exception), result
    assert refreshed.status_code == 200, refreshed.content
    assert result.tallies["RefreshToken"].deleted == 1  # the backdated tombstone
    assert result.tallies["RefreshToken"].seconds > 0.5  # it did wait for the rotation
    monkeypatch.undo()
    assert flow.refresh(Client(), application, refreshed.json()["refresh_token"]).status_code == 200


@pytest.mark.concurrency
@pytest.mark.usefixtures("postgres_only")
def test_cleanup_runs_while_tokens_are_issued_refreshed_and_replayed(owner):
    """Cleanup sweeps dead rows among live ones being issued, rotated and revoked by reuse detection.

    Neither side errs (a deadlock would fail one of them), and nothing live goes.
    """
    user, application = owner
    families = []
    for _ in range(6):
        first = flow.obtain_tokens(user, application)  # consent is remembered after the first
        families.append(flow.refresh(Client(), application, first["refresh_token"]).json())
    # Backdated past retention: cleanup unlinks the live access tokens minted from them.
    RefreshToken.objects.filter(revoked__isnull=False).update(revoked=NOW - REFRESH_LIFETIME - DAY)
    # Consent runs beforehand: the test client's response.context is not thread-safe.
    browser = Client()
    browser.force_login(user)
    codes = [flow.obtain_code(browser, application, "member-read offline_access") for _ in families]
    long_ago = NOW - REFRESH_LIFETIME - SESSION - DAY
    dead = {
        AccessToken: {access_token(owner, long_ago).pk for _ in range(300)},
        RefreshToken: {refresh_token(owner, access_token(owner, long_ago)).pk for _ in range(40)}
        | {refresh_token(owner, None, revoked=long_ago).pk for _ in range(200)},
        IDToken: {id_token(owner, long_ago).pk for _ in range(100)},
        Grant: {grant(owner, long_ago).pk for _ in range(100)},
    }
    finished: list[int] = []  # appended to by the workers' threads

    def clean_until_the_workers_are_done():
        runs = [cleanup.tokens_cleanup(batch_size=20, pause=0)]
        while len(finished) < len(families):
            runs.append(cleanup.tokens_cleanup(batch_size=20, pause=0))
        return runs

    def work(second, code, verifier):
        def steps():
            try:
                statuses = [flow.redeem(Client(), application, code, verifier).status_code]
                chain = second["refresh_token"]
                for _ in range(3):
                    response = flow.refresh(Client(), application, chain)
                    statuses.append(response.status_code)
                    chain = response.json().get("refresh_token", chain)
                # A replay of the rotated token revokes this family (RFC 9700 §4.14.2).
                statuses.append(flow.refresh(Client(), application, second["refresh_token"]).status_code)
                return statuses
            finally:
                finished.append(1)

        return steps

    results = race(
        [
            clean_until_the_workers_are_done,
            *(work(second, *code) for second, code in zip(families, codes, strict=True)),
        ]
    )

    assert [result for result in results if isinstance(result, Exception)] == []
    assert results[1:] == [[200, 200, 200, 200, 400]] * 6
    for model, pks in dead.items():
        assert not model.objects.filter(pk__in=pks).exists(), model.__name__
    # What the codes gave is alive and well; the replayed families are revoked.
    live = RefreshToken.objects.filter(revoked__isnull=True).select_related("access_token")
    assert len(live) == 6
    for token in live:
        assert token.access_token is not None
        assert token.access_token.expires > timezone.now()
