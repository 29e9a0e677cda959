"""Schema-driven fuzzing: malformed parameters and bodies to every operation never give a 500."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from apps.oauth.scopes import SCOPES
from tests.api.tokens import issue_token
from tests.members.factories import member_with_login

pytestmark = pytest.mark.django_db

ALL_SCOPES = " ".join(SCOPES)


# Generating the schema needs no database, so it can be loaded when the tests are collected.
schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", get_wsgi_application())
fuzz = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture(autouse=True)
def keep_the_test_transaction_open():
    """Schemathesis calls the WSGI app directly, so Django's end-of-request signal would close the
    database connection inside the test's transaction (Django's own test client prevents that)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def member_token():
    return issue_token(ALL_SCOPES, user=member_with_login().user)


@pytest.fixture
def app_token():
    return issue_token(ALL_SCOPES)


@schema.parametrize()
@fuzz
def test_no_500_with_a_members_token(case, member_token):
    response = case.call(headers={"Authorization": f"Bearer {member_token}"})
    case.validate_response(response, checks=[not_a_server_error])


@schema.parametrize()
@fuzz
def test_no_500_with_an_apps_token(case, app_token):
    response = case.call(headers={"Authorization": f"Bearer {app_token}"})
    case.validate_response(response, checks=[not_a_server_error])
