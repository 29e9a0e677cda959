"""PrecompiledQuery answers what `queryset.first()` answers, in one statement, with each call's values."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.db.models import signals
from django.db.models.functions import Now
from django.db.transaction import TransactionManagementError
from django.db.utils import ConnectionDoesNotExist
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import set_token_value

from apps.audit.models import AuditEvent
from apps.core.fields import Digest, sha256_hex
from apps.core.precompiled import PLAIN_INSERT, PrecompiledInsert, PrecompiledInserts, PrecompiledQuery
from apps.members.models import Member
from apps.oauth.models import AccessToken, Application, Grant
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


# --- PrecompiledInsert ---------------------------------------------------------------------------

new_event = PrecompiledInsert(AuditEvent)


def _event(**overrides) -> AuditEvent:
    values = {
        "event": AuditEvent.Event.TOKEN_ISSUED,
        "actor_type": AuditEvent.ActorType.CLIENT,
        "actor_label": "kiosk",
        "client_id": "kiosk",
        "ip": "192.0.2.1",
        "details": {"scope": "member-read", "nested": [1, {"a": None}]},
    }
    return AuditEvent(**(values | overrides))


def test_an_insert_stores_what_save_stores_in_one_statement(django_assert_num_queries):
    by_save, by_insert = _event(), _event()
    by_save.save()

    with django_assert_num_queries(1):
        new_event.save(by_insert)

    assert by_insert.pk is not None
    assert by_insert.pk != by_save.pk
    assert by_insert._state.adding is False
    assert by_insert._state.db == "default"
    stored = AuditEvent.objects.get(pk=by_insert.pk)
    reference = AuditEvent.objects.get(pk=by_save.pk)
    for field in AuditEvent._meta.concrete_fields:
        if field.name not in ("id", "time"):
            assert getattr(stored, field.attname) == getattr(reference, field.attname), field.name
    assert stored.time is not None  # the field's default ran


def test_an_insert_sets_foreign_keys_and_auto_now_fields():
    user = member_with_login().user
    application = ApplicationFactory()
    token = AccessToken(user=user, application=application, scope="openid", expires="2099-01-01T00:00:00Z")
    set_token_value(token, "a token value")

    PrecompiledInsert(AccessToken).save(token)

    stored = AccessToken.objects.get(pk=token.pk)
    assert (stored.user_id, stored.application_id) == (user.pk, application.pk)
    assert stored.token_checksum == token_checksum("a token value")
    assert stored.created is not None
    assert stored.updated is not None


def test_a_saved_row_is_refused():
    event = _event()
    event.save()

    with pytest.raises(TypeError):
        new_event.save(event)


def test_an_unsaved_related_object_is_refused_as_save_refuses_it():
    token = AccessToken(
        user=member_with_login().user, application=Application(name="unsaved"), scope="openid"
    )

    with pytest.raises(ValueError, match="unsaved"):
        PrecompiledInsert(AccessToken).save(token)


def test_a_save_receiver_gets_its_signal(django_assert_num_queries):
    seen: list[AuditEvent] = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_save.connect(receiver, sender=AuditEvent)
    try:
        event = _event()
        new_event.save(event)
    finally:
        signals.post_save.disconnect(receiver, sender=AuditEvent)

    assert seen == [event]
    assert event.pk is not None


def test_an_expression_value_is_left_to_save():
    event = _event(time=Now())

    new_event.save(event)

    assert AuditEvent.objects.get(pk=event.pk).time is not None


# --- What keeps precompiled SQL honest (apps/core/checks.py, PrecompiledInsert's refusal) -----------


def test_the_database_check_compiles_every_query_latch_registers():
    from apps.core.checks import check_precompiled_queries
    from apps.core.precompiled import registered

    assert check_precompiled_queries(databases=["default"]) == []
    names = {repr(query) for query in registered()}
    assert {"PrecompiledQuery(Member, (-20260001,))", "PrecompiledInsert(AuditEvent)"} <= names
    assert "PrecompiledQuery(AccessToken, ('<access token checksum>',))" in names


def test_a_query_that_does_not_compile_stops_the_database_check_not_its_first_request():
    from apps.core.checks import check_precompiled_queries

    # The queryset ignores its value, so the SQL has no place for it.
    broken = PrecompiledQuery(lambda scope: AccessToken.objects.filter(scope="openid"), "<scope>")

    errors = check_precompiled_queries(databases=["default"])

    assert [error.id for error in errors] == ["latch.core.E001"]
    assert errors[0].obj is broken
    assert "does not compile for the database 'default'" in errors[0].msg
    assert check_precompiled_queries(databases=None) == []  # `manage.py check` without --database
    del broken


def test_an_insert_that_would_skip_a_models_own_save_is_refused():
    # Member.save() normalises the email address: an INSERT without it would store it as typed.
    with pytest.raises(ImproperlyConfigured, match=r"Member overrides save\(\) or save_base\(\)"):
        PrecompiledInsert(Member)


def test_a_save_marked_plain_insert_is_accepted():
    assert getattr(AuditEvent.save, PLAIN_INSERT) is True
    PrecompiledInsert(AuditEvent)  # and test_an_insert_stores_what_save_stores_* shows they agree


class _Elsewhere:
    """A router that sends every read and write of AccessToken to a database this project lacks."""

    def db_for_read(self, model, **hints):
        return "reads" if model is AccessToken else None

    def db_for_write(self, model, **hints):
        return "writes" if model is AccessToken else None


def test_queries_and_inserts_go_to_the_database_the_routers_name(settings):
    settings.DATABASE_ROUTERS = [_Elsewhere()]
    locking = PrecompiledQuery(lambda pk: AccessToken.objects.select_for_update().filter(pk=pk), -7)
    token = AccessToken(token="x", expires=Now(), scope="")

    with pytest.raises(ConnectionDoesNotExist, match="reads"):
        by_checksum.first("anything")
    with pytest.raises(ConnectionDoesNotExist, match="writes"):
        locking.first(1)
    with pytest.raises(ConnectionDoesNotExist, match="writes"):
        PrecompiledInsert(AccessToken).save(token)


# --- Rows of several models in one statement (PrecompiledInserts) ------------------------------------

token_and_event = PrecompiledInserts(AccessToken, AuditEvent)


def _token(value: str = "a token value") -> AccessToken:
    token = AccessToken(application=ApplicationFactory(), scope="member-read", expires="2099-01-01T00:00Z")
    set_token_value(token, value)
    return token


def test_rows_of_two_models_are_stored_by_one_statement_as_their_own_inserts_store_them(
    django_assert_num_queries,
):
    together_token, together_event = _token("together"), _event()
    apart_token, apart_event = _token("apart"), _event()
    PrecompiledInsert(AccessToken).save(apart_token)
    new_event.save(apart_event)

    with django_assert_num_queries(1):
        token_and_event.save(together_token, together_event)

    for model, together, apart in (
        (AccessToken, together_token, apart_token),
        (AuditEvent, together_event, apart_event),
    ):
        assert together.pk is not None
        assert together._state.adding is False
        stored, reference = model.objects.get(pk=together.pk), model.objects.get(pk=apart.pk)
        for field in model._meta.concrete_fields:
            if field.name not in (
                "id",
                "time",
                "created",
                "updated",
                "token",
                "token_checksum",
                "application",
            ):
                assert getattr(stored, field.attname) == getattr(reference, field.attname), field.name
    assert AccessToken.objects.get(pk=together_token.pk).token_checksum == token_checksum("together")


@pytest.mark.django_db(transaction=True)  # autocommit, as the client_credentials grant runs it
def test_rows_of_one_statement_are_stored_together_or_not_at_all():
    first = _token("unique")
    PrecompiledInsert(AccessToken).save(first)
    duplicate = _token("unique")  # the same checksum: the unique index refuses the token's row

    with pytest.raises(IntegrityError):
        token_and_event.save(duplicate, _event(actor_label="must not be stored"))

    assert not AuditEvent.objects.filter(actor_label="must not be stored").exists()
    assert AccessToken.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_statement_needs_no_transaction_of_its_own():
    token, event = _token(), _event()

    with CaptureQueriesContext(connection) as captured:
        token_and_event.save(token, event)

    assert [query["sql"].split()[0] for query in captured.captured_queries] == ["WITH"]


@pytest.mark.django_db(transaction=True)
def test_rows_one_statement_cannot_write_are_saved_one_by_one_all_or_nothing():
    def receiver(sender, instance, **kwargs):
        raise RuntimeError("a receiver refusing the event")

    first = _token("stored only with its event")
    signals.post_save.connect(receiver, sender=AuditEvent)
    try:
        with pytest.raises(RuntimeError):
            token_and_event.save(first, _event())
    finally:
        signals.post_save.disconnect(receiver, sender=AuditEvent)

    assert not AccessToken.objects.filter(token_checksum=first.token_checksum).exists()


def test_rows_saved_one_by_one_get_their_save_signals():
    seen: list[object] = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_save.connect(receiver, sender=AuditEvent)
    try:
        token, event = _token(), _event()
        token_and_event.save(token, event)
    finally:
        signals.post_save.disconnect(receiver, sender=AuditEvent)

    assert seen == [event]
    assert AccessToken.objects.filter(pk=token.pk).exists()


def test_one_statement_refuses_the_wrong_rows():
    with pytest.raises(TypeError):
        token_and_event.save(_token())
    with pytest.raises(TypeError):
        token_and_event.save(_event(), _token())


def test_a_fetched_row_builds_the_instance_first_builds_each_time():
    stored = AccessToken.objects.get(token_checksum=token_checksum(issue_token(scope="member-read")))

    fetched = by_checksum.fetch(stored.token_checksum)

    assert fetched is not None
    built, again = by_checksum.build(*fetched), by_checksum.build(*fetched)
    assert built == again == by_checksum.first(stored.token_checksum)
    assert built is not again
    assert (built.user, built.application) == (stored.user, stored.application)
    assert by_checksum.fetch("no such checksum") is None
