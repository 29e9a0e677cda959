"""JSON logs: one valid JSON object per line, with time, level, logger, event and details."""

import json
import logging
import subprocess
import sys
from pathlib import Path

from apps.audit.checks import check_log_format
from apps.audit.logging import JSONFormatter
from tests.processes import clean_environment

BASE_DIR = Path(__file__).resolve().parents[2]


def log_record(msg: str, *args, level: int = logging.INFO, exc_info=None, **extra) -> logging.LogRecord:
    record = logging.getLogger("apps.checkout.services").makeRecord(
        "apps.checkout.services", level, "services.py", 1, msg, args, exc_info, extra=extra
    )
    record.created = 1767225600.25  # 2026-01-01T00:00:00.250Z
    return record


def test_a_record_is_one_json_object_with_its_extra_fields_as_details():
    line = JSONFormatter().format(log_record("card.charged", card=3, amount_cents=250))

    assert json.loads(line) == {
        "time": "2026-01-01T00:00:00.250+00:00",
        "level": "INFO",
        "logger": "apps.checkout.services",
        "event": "card.charged",
        "details": {"card": 3, "amount_cents": 250},
    }


def test_a_formatted_message_is_the_event_and_newlines_stay_inside_the_line():
    line = JSONFormatter().format(log_record("oauth.x name=%r", 'evil\n{"forged": 1}', level=logging.WARNING))

    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["level"], parsed["event"], parsed["details"]) == (
        "WARNING",
        "oauth.x name='evil\\n{\"forged\": 1}'",
        {},
    )


def test_an_explicit_event_and_details_put_the_other_extras_at_the_top_level():
    line = JSONFormatter().format(
        log_record(
            "long text", event="token.issued", ip="192.0.2.1", logger="spoofed", details={"scope": "openid"}
        )
    )

    parsed = json.loads(line)
    assert parsed["event"] == "token.issued"
    assert parsed["ip"] == "192.0.2.1"
    assert parsed["logger"] == "apps.checkout.services"  # an extra never replaces one of the four
    assert parsed["details"] == {"scope": "openid"}


def test_an_exception_and_a_value_json_cannot_encode_are_still_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = log_record("audit.write_failed", exc_info=sys.exc_info(), thing=object())

    line = JSONFormatter().format(record)

    parsed = json.loads(line)
    assert "\n" not in line
    assert parsed["exc"].startswith("Traceback")
    assert parsed["exc"].endswith("ValueError: boom")
    assert parsed["details"]["thing"].startswith("<object object at")


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = clean_environment(without=("DJANGO_", "LATCH_"), **env) | {
        "LATCH_DEV_KEYS": "1",
        "LATCH_ISSUER": "https://latch.example.org",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


LOG_TWO_LINES = (
    "import logging; logging.getLogger('apps.checkout.services').info('card.charged', extra={'card': 3}); "
    "logging.getLogger('django.request').warning('Not Found: %s', '/x')"
)


def test_latch_log_format_json_makes_every_line_json():
    result = run_python(LOG_TWO_LINES, LATCH_LOG_FORMAT="json")

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(line["logger"], line["event"], line["details"]) for line in lines] == [
        ("apps.checkout.services", "card.charged", {"card": 3}),
        ("django.request", "Not Found: /x", {}),
    ]


def test_logs_are_text_by_default():
    result = run_python(LOG_TWO_LINES)

    assert result.returncode == 0, result.stderr
    first, second = result.stderr.splitlines()
    assert first.endswith(" INFO apps.checkout.services card.charged")
    assert second.endswith(" WARNING django.request Not Found: /x")


def test_an_unknown_log_format_is_a_system_check_error(settings):
    settings.LOG_FORMAT = "xml"

    (error,) = check_log_format(None)

    assert error.id == "latch.audit.E001"
    assert "'xml'" in error.msg


def test_known_log_formats_pass_the_check(settings):
    for log_format in ("text", "json"):
        settings.LOG_FORMAT = log_format
        assert check_log_format(None) == []
