"""The stock DOT project really is stock, and its helper seeds what the stock scenarios need."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import database
from bench.processes import ROOT
from bench.scenarios import Lines, stock_scenarios
from bench.stock.client import StockHelper

STOCK_ENV = {
    "DJANGO_SETTINGS_MODULE": "bench.stock.settings",
    "DJANGO_SECRET_KEY": "test-only-not-a-secret",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/latch_bench_stock_unused",
}


def stock_environment(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LATCH_", "DATABASE_"))}
    return {**base, **STOCK_ENV, **extra}


@pytest.fixture
def stock_settings(monkeypatch):
    for key, value in STOCK_ENV.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("bench.stock.settings", None)
    yield importlib.import_module("bench.stock.settings")
    sys.modules.pop("bench.stock.settings", None)


def test_the_stock_settings_name_nothing_of_latch_and_override_none_of_dots_defaults(stock_settings):
    names = {name for name in dir(stock_settings) if name.isupper()}

    assert not [app for app in stock_settings.INSTALLED_APPS if app.startswith(("apps.", "config"))]
    assert "oauth2_provider" in stock_settings.INSTALLED_APPS
    assert not [m for m in stock_settings.MIDDLEWARE if m.startswith(("apps.", "config.", "allauth"))]
    assert stock_settings.DEBUG is False
    assert "PASSWORD_HASHERS" not in names  # Django's default: PBKDF2 first
    assert not [name for name in names if name.startswith("OAUTH2_PROVIDER_")]  # DOT's own models
    assert set(stock_settings.OAUTH2_PROVIDER) == {"SCOPES"}
    assert {"read", "write", "introspection"} == set(stock_settings.OAUTH2_PROVIDER["SCOPES"])


DEFAULTS_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.contrib.auth.hashers import get_hasher
from oauth2_provider.models import Application, get_access_token_model, get_application_model
from oauth2_provider.settings import oauth2_settings
print(json.dumps({
    "application": get_application_model()._meta.label,
    "access_token": get_access_token_model()._meta.label,
    "user": settings.AUTH_USER_MODEL,
    "secret_hasher_setting": oauth2_settings.CLIENT_SECRET_HASHER,
    "secret_hasher": get_hasher(oauth2_settings.CLIENT_SECRET_HASHER).algorithm,
    "hash_client_secret_default": Application._meta.get_field("hash_client_secret").default,
    "token_storage_compliant": oauth2_settings.COMPLIANT_BCP_RFC9700_TOKEN_STORAGE,
}))
"""


def test_under_the_stock_settings_dot_runs_its_own_models_and_the_default_pbkdf2_hasher():
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", DEFAULTS_PROBE],
        cwd=ROOT,
        env=stock_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert json.loads(result.stdout) == {
        "application": "oauth2_provider.Application",
        "access_token": "oauth2_provider.AccessToken",
        "user": "auth.User",
        "secret_hasher_setting": "default",
        "secret_hasher": "pbkdf2_sha256",
        "hash_client_secret_default": True,
        "token_storage_compliant": False,
    }


def test_a_stock_database_is_named_beside_the_benchmarks():
    assert (
        database.sibling_url("postgres://u:p@db:5433/latch_bench?sslmode=disable", "_stock")
        == "postgres://u:p@db:5433/latch_bench_stock?sslmode=disable"
    )


@pytest.fixture
def helper(tmp_path):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("the stock helper migrates a PostgreSQL database of its own")
    # The bench only creates and drops databases named *bench* (bench/database.py); CI's is "latch".
    stock_url = database.sibling_url(url, "_bench_stock_helper")
    with database.own_database(stock_url):
        started = StockHelper(
            env=stock_environment(DATABASE_URL=stock_url),
            log=Path(tmp_path) / "helper.log",
            members=2,
        )
        try:
            started.start()
            yield started
        finally:
            started.stop()


def test_every_stock_scenario_gets_the_answer_it_expects_from_the_seeded_stock_server(helper):
    for name, scenario in stock_scenarios(helper.clients).items():
        if scenario.lines is Lines.NONE:
            fields: list[str] = []
        else:
            kind = "refresh" if scenario.lines is Lines.SPEND else "access"
            (line,) = helper.mint(kind, "pbkdf2" if name.endswith("_pbkdf2") else "plain", 1)
            fields = list(line)
        headers = {k: scenario.fill(v, fields) for k, v in scenario.headers.items() if k != "Content-Type"}
        answer = helper.ask(
            "request",
            method=scenario.method,
            path=scenario.fill(scenario.path, fields),
            headers=headers,
            body=scenario.fill(scenario.body or "", fields),
        )

        assert answer["status"] == 200, (name, answer["body"])
        assert scenario.expect in answer["body"], name
    checks = helper.ask("checks")
    assert checks["client_secrets_stored_as"] == ["pbkdf2_sha256", "plaintext"]
    assert checks["client_secret_hasher"] == "pbkdf2_sha256"


def test_a_wrong_secret_is_refused_by_the_stock_server(helper):
    wrong = "Basic " + "d3Jvbmc6d3Jvbmc="  # wrong:wrong
    answer = helper.ask(
        "request",
        method="POST",
        path="/o/token/",
        headers={"Authorization": wrong},
        body="grant_type=client_credentials&scope=read",
    )

    assert answer["status"] == 401
