"""Row locks in tests as in production: only inside a transaction of the code's own.

A request runs in autocommit, where `select_for_update` raises TransactionManagementError. Most
tests run inside the transaction pytest-django opens around each test, where it does not, so a lock
taken outside any `atomic` block passed every test and answered 500 in production (the
/oauth/revoke bug of 1e5b0ba). `refuse_locks_outside_own_transactions` makes it raise in tests too:
a lock counts as inside a transaction only when an atomic block other than the test's own is open.

It relies on Django's test internals: TestCase marks its atomic blocks `_from_testcase`
(django/test/testcases.py) and the connection lists the open ones in `atomic_blocks`.
tests/core/test_locking.py pins both.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, router
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

from apps.core.precompiled import PrecompiledQuery

MESSAGE = (
    "select_for_update outside a transaction of the code's own: in production the request runs in "
    "autocommit and this raises (the test's own transaction does not count)."
)


def only_the_tests_transaction(connection) -> bool:
    return all(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


@contextmanager
def refuse_locks_outside_own_transactions() -> Iterator[None]:
    compile_sql, first = SQLCompiler.as_sql, PrecompiledQuery.first

    def as_sql(self, *args, **kwargs):
        locking = self.query.select_for_update and self.connection.features.has_select_for_update
        if locking and self.connection.atomic_blocks and only_the_tests_transaction(self.connection):
            raise TransactionManagementError(MESSAGE)
        return compile_sql(self, *args, **kwargs)

    def precompiled_first(self, *values, using=None):
        if self._for_update:
            connection = connections[using or router.db_for_write(self.model)]
            if connection.features.has_select_for_update and only_the_tests_transaction(connection):
                raise TransactionManagementError(MESSAGE)
        return first(self, *values, using=using)

    SQLCompiler.as_sql, PrecompiledQuery.first = as_sql, precompiled_first  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQLCompiler.as_sql, PrecompiledQuery.first = compile_sql, first  # type: ignore[method-assign]
