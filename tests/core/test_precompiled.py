"""PrecompiledQuery answers what `queryset.first()` answers, in one statement, with each call's values."""

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from apps.core.fields import Digest, sha256_hex
from apps.core.precompiled import PrecompiledQuery
from apps.oauth.models import AccessToken, Grant
from apps.oauth.validators import token_checksum
from tests.api.tokens import issue_token
from tests.members.factories import member_with_login
from tests.oauth.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

by_checksum = PrecompiledQuery(
    lambda checksum: AccessToken.objects.select_related("application", "user").filter(
        token_checksum=checksum
    ),
    "<checksum>",
)


def test_finds_the_row_the_queryset_finds_with_its_related_rows_loaded(django_assert_num_queries):
    user = member_with_login().user
    raw = issue_token("member-read", user=user)
    expected = by_checksum.queryset(token_checksum(raw)).first()

    with django_assert_num_queries(1):
        token = by_checksum.first(token_checksum(raw))
        assert token is not None
        assert (token.user.email, token.application.client_id) == (user.email, expected.application.client_id)

    assert token == expected
    assert {field.attname: getattr(token, field.attname) for field in AccessToken._meta.concrete_fields} == {
        field.attname: getattr(expected, field.attname) for field in AccessToken._meta.concrete_fields
    }
    assert token._state.adding is False
    assert token._state.db == "default"


def test_each_call_uses_its_own_value():
    first, second = issue_token("member-read"), issue_token("checkout-read")

    assert by_checksum.first(token_checksum(first)).scope == "member-read"
    assert by_checksum.first(token_checksum(second)).scope == "checkout-read"


def test_no_row_is_none():
    issue_token("member-read")

    assert by_checksum.first(token_checksum("not a token anyone holds")) is None


def test_a_value_is_a_parameter_never_part_of_the_sql():
    issue_token("member-read")
    hostile = "x' OR '1'='1"

    assert by_checksum.first(hostile) is None


def test_the_fields_converters_run_on_the_row():
    application = ApplicationFactory()
    user = member_with_login().user
    Grant.objects.create(
        user=user,
        application=application,
        code="the code",
        expires="2099-01-01T00:00:00Z",
        redirect_uri="https://app.example.org/callback",
        scope="openid",
    )
    by_code = PrecompiledQuery(lambda code: Grant.objects.filter(code=code), Digest("<code>"))

    grant = by_code.first(Digest(sha256_hex("the code")))

    assert grant is not None
    assert isinstance(grant.code, Digest)  # DigestField.from_db_value ran


def test_the_wrong_number_of_values_is_refused():
    with pytest.raises(TypeError):
        by_checksum.first()


def test_a_placeholder_the_compiled_query_does_not_contain_is_refused():
    # The field prepares the value (DigestField hashes a plain str), so the placeholder is lost.
    by_code = PrecompiledQuery(lambda code: Grant.objects.filter(code=code), "<not a digest>")

    with pytest.raises(ValueError, match="placeholders not found"):
        by_code.first("anything")


@pytest.mark.django_db(transaction=True)  # autocommit outside the atomic block, as in production
def test_a_locking_query_needs_a_transaction_every_time_not_only_when_compiled():
    locked = PrecompiledQuery(
        lambda checksum: AccessToken.objects.select_for_update().filter(token_checksum=checksum), "<c>"
    )
    raw = issue_token("member-read")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert locked.first(token_checksum(raw)) is not None
    if connection.features.has_select_for_update:
        assert "FOR UPDATE" in queries.captured_queries[-1]["sql"]

    with pytest.raises(TransactionManagementError):
        locked.first(token_checksum(raw))
