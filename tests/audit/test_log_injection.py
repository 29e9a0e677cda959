"""A client-supplied value never starts a log line of its own, in the text format or the JSON one.

A client_id, a user agent or a login name with CR, LF, another C0/C1 control or a Unicode line
separator in it is logged escaped, so a log reader sees one record where there was one.
"""

import io
import json
import logging
import sys
from logging.config import DictConfigurator

import pytest
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.test import Client, RequestFactory

from tests.oauth import flow

pytestmark = pytest.mark.django_db

FORGED = "2026-01-01 00:00:00,000 INFO latch.audit login.succeeded actor=user:root@example.org"
BREAKS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]


def formatter(name: str) -> logging.Formatter:
    """The formatter config/settings.py's LOGGING names, built as logging.config builds it."""
    return DictConfigurator(settings.LOGGING).configure_formatter(dict(settings.LOGGING["formatters"][name]))


@pytest.fixture(params=["plain", "json"])
def log_lines(request):
    """The lines Latch's log handler writes while the test runs, in one format."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(request.param))
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: stream.getvalue().splitlines()
    root.removeHandler(handler)


def assert_not_forged(lines: list[str]) -> None:
    assert lines
    assert not [line for line in lines if line.startswith(FORGED[:10])]
    for line in lines:
        assert not any(char in line for char in BREAKS)


@pytest.mark.parametrize("line_break", BREAKS)
def test_a_line_break_in_a_client_id_cannot_forge_a_second_log_line(log_lines, line_break):
    client_id = f"kiosk{line_break}{FORGED}"

    response = Client().post(
        "/oauth/token", {"grant_type": "client_credentials"}, **flow.basic_auth(client_id, "guess")
    )

    assert response.status_code == 401
    lines = log_lines()
    assert_not_forged(lines)
    assert any("client_auth.failed" in line for line in lines)


def test_a_line_break_in_a_login_name_cannot_forge_a_second_log_line(log_lines):
    login = f"ada@example.org\r\n{FORGED}"
    Client().post("/accounts/login/", {"login": login, "password": "wrong"})
    # The sign-in form refuses it before Django's backends see it; a backend that did would log this.
    user_login_failed.send(sender=__name__, credentials={"email": login}, request=RequestFactory().post("/"))

    lines = log_lines()
    assert_not_forged(lines)
    assert any("login.failed" in line for line in lines)


def test_a_line_break_in_a_path_cannot_forge_a_second_log_line(log_lines):
    Client().get(f"/no-such-page\r\n{FORGED}")

    assert_not_forged(log_lines())


@pytest.mark.parametrize(
    "value",
    [
        f"Mozilla/5.0\r\n{FORGED}",  # a user agent
        f"kiosk\u2028{FORGED}",  # a client_id
        f"ada@example.org\x85{FORGED}",  # a login name
        f"bidi\u202e{FORGED}\x00\x1b[31m",
    ],
)
@pytest.mark.parametrize("name", ["plain", "json"])
def test_any_client_value_in_a_log_call_stays_on_its_line(name, value):
    record = logging.getLogger("apps.oauth.views").makeRecord(
        "apps.oauth.views", logging.WARNING, "views.py", 1, "oauth.refused value=%s", (value,), None
    )

    line = formatter(name).format(record)

    assert len(line.splitlines()) == 1
    assert not any(char in line for char in [*BREAKS, "\x00", "\x1b", "\u202e"])
    if name == "json":
        assert json.loads(line)["event"] == f"oauth.refused value={value}"


def test_the_text_format_escapes_readably():
    record = logging.getLogger("x").makeRecord(
        "x", logging.INFO, "x.py", 1, "ua=%s", ("a\r\nb\u2028c",), None
    )

    assert formatter("plain").format(record).endswith("ua=a\\r\\nb\\u2028c")


def test_a_traceback_keeps_its_lines_but_none_starts_like_a_record():
    try:
        raise ValueError(f"bad client_id kiosk\n{FORGED}")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, "x.py", 1, "oauth.failed", (), exc_info=sys.exc_info()
        )

    lines = formatter("plain").format(record).splitlines()

    assert lines[0].endswith("oauth.failed")
    assert any("Traceback" in line for line in lines)
    assert all(line.startswith((" ", "\t")) for line in lines[1:])
