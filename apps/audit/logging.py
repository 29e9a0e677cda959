"""One JSON object per log line, for log collectors (LATCH_LOG_FORMAT=json).

Imported by Django's logging setup before the apps are ready: this module must not touch models.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Every attribute a LogRecord has of its own; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


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
