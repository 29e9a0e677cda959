"""Logging filters the LOGGING config in config/settings.py attaches to Latch's handlers.

Imported by Django's logging setup before the apps are ready: this module must not touch models.
"""

import logging


class RequestWithoutQueryString(logging.Filter):
    """Replace a record's `request` by its method and path, without the query string.

    Django's `django.request` and `django.security` records carry the HttpRequest as an `extra`
    field, whose repr is the full path with its query string; the JSON format writes it out. A
    query string can hold what must never be logged: a client secret sent where RFC 6749 §2.3.1
    forbids it (refused, but still logged as a Bad Request), a token, a code.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        if isinstance(path, str):
            record.request = f"{getattr(request, 'method', '')} {path}".strip()
        return True
