"""One line per log record: escaped text (LATCH_LOG_FORMAT=text), or one JSON object (=json).

Imported by Django's logging setup before the apps are ready: this module must not touch models.
"""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# Every attribute a LogRecord has of its own; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

# What could end a line or disguise one in a log viewer: C0 controls and DEL, C1 controls (NEL is
# one), the Unicode line and paragraph separators, the bidirectional overrides and isolates, and
# lone surrogates. str.splitlines() breaks at a subset of these.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """`text` with every control or line-separating character as a visible escape (\\r\\n, \\x85, \\u2028)."""
    return _CONTROL.sub(_escaped, text)


class TextFormatter(logging.Formatter):
    """The text format, in which no client-supplied value can start a line of its own.

    The message (with its arguments: a client_id, a login name, a path) is escaped onto its line. A
    traceback keeps its lines for reading, each escaped and indented, so that only a record's first
    line starts at the left margin, with the time.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:
        return self._indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return self._indented(super().formatStack(stack_info))

    @staticmethod
    def _indented(text: str) -> str:
        return "\n".join("    " + escape_controls(line) for line in text.split("\n"))


class JSONFormatter(logging.Formatter):
    """`{"time", "level", "logger", "event", "details"}` per record, newlines escaped, so one line each.

    `event` is the formatted message (Latch logs an event name, STYLE.md §12), or the record's
    `event` extra field when it has one. `details` holds the record's other `extra=` fields; a caller
    that passes `extra={"details": {...}, ...}` gets that dict as `details` and its other extra fields
    beside it at the top level (the audit log does this).
    """

    def format(self, record: logging.LogRecord) -> str:
        extra = {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}
        event = str(extra.pop("event", None) or record.getMessage())
        details = extra.pop("details") if isinstance(extra.get("details"), dict) else None
        if details is None:
            details, extra = extra, {}
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": event,
        }
        for key, value in extra.items():
            line.setdefault(key, value)  # an extra field never replaces one of the four above
        line["details"] = details
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a value json cannot encode is logged as its str(), never dropped with the line.
        return json.dumps(line, default=str, separators=(",", ":"))
