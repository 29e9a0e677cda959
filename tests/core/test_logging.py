import logging

from django.test import RequestFactory

from apps.core.logging import RequestWithoutQueryString


def record_with(**extra) -> logging.LogRecord:
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Bad Request: %s", ("/x",), None
    )
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_a_records_request_keeps_its_method_and_path_but_not_its_query_string():
    record = record_with(request=RequestFactory().post("/oauth/token?client_secret=s3cret&code=c0de"))

    assert RequestWithoutQueryString().filter(record) is True
    assert record.request == "POST /oauth/token"
    assert "s3cret" not in repr(vars(record))


def test_records_without_a_request_pass_unchanged():
    record = record_with(details={"path": "/oauth/token"})

    assert RequestWithoutQueryString().filter(record) is True
    assert not hasattr(record, "request")
    assert record.details == {"path": "/oauth/token"}
