"""ORM queries compiled to SQL once per process, for the few lookups every token request makes.

Building a queryset and compiling it to SQL costs Django about 1 ms of CPU on the benchmark
machine (docs/performance.md), several times what PostgreSQL spends answering a lookup by a unique
index. The hot paths ask the same question with a different value each time (the token with this
digest, the client with this id), so `PrecompiledQuery` compiles the queryset once per database
alias with placeholder values, and afterwards only substitutes the values, executes the SQL and
builds the model instances the way the queryset would have (select_related included).

The SQL comes from Django's own compiler, and the rows go through the same converters and
`Model.from_db`, so the result is what `queryset.first()` would have returned. The database is the
one Django's routers name for the model (a locking query is a write, as in Django).

Why Django's internals, and what keeps them honest. Turning a compiled row into instances is what
Django's ModelIterable does, and it has no public API: `_compile` reads the queryset's
`_fetch_mode` and calls `get_related_populators` (django.db.models.query) and the compiler's
`get_converters`/`apply_converters`, as ModelIterable does. tests/core/test_precompiled.py pins each
to `queryset.first()`'s answer (related rows, converters, locking), so a Django upgrade that
changes them fails there, not in production.

Where it can go wrong, and what stops it:
- a query that cannot be compiled (a placeholder the SQL lacks, a typo in a lookup) would fail at
  its first request: the `latch.core.E001` system check (apps/core/checks.py) compiles every one
  for each database at `manage.py migrate` and `manage.py check --database default`, and the test
  suite runs it;
- an INSERT that skips `Model.save()`: `PrecompiledInsert` refuses, when it is created, a model
  that overrides `save()` or `save_base()`, unless its `save()` is marked `@plain_insert` (it adds
  nothing to Django's for a new row) and a test shows the two store the same row.
"""

import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.models import Model, QuerySet, signals
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError

PLAIN_INSERT = "_latch_plain_insert"
# Every precompiled query and insert in the process, for the system check that compiles them all.
_registered: "weakref.WeakSet[_PerAlias[Any]]" = weakref.WeakSet()


def registered() -> Iterable["_PerAlias[Any]"]:
    return list(_registered)


def plain_insert[F: Callable[..., Any]](save: F) -> F:
    """Mark a model's `save()` override as adding nothing to Django's for a new row (it may refuse
    or change other saves), so that PrecompiledInsert may write the model's new rows."""
    setattr(save, PLAIN_INSERT, True)
    return save


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, int], ...]  # (position in params, index of the value to put there)
    model: type[Model]
    init_list: list[str]
    model_slice: slice
    related_populators: list[Any]
    converters: dict[int, Any]
    compiler: Any
    for_update: bool


class _PerAlias[C]:
    """What a subclass compiles for a database alias, compiled on first use by one thread."""

    def __init__(self) -> None:
        self._compiled: dict[str, C] = {}
        self._lock = threading.Lock()
        _registered.add(self)

    def compile_for(self, using: str) -> None:
        """Compile for `using` now (the system check), rather than at the first call. In a
        transaction, as a locking query's callers are: Django compiles FOR UPDATE only in one."""
        with transaction.atomic(using=using):
            self._compiled_for(using)

    def _compiled_for(self, using: str) -> C:
        try:
            return self._compiled[using]
        except KeyError:
            with self._lock:
                if using not in self._compiled:
                    self._compiled[using] = self._compile(using)
                return self._compiled[using]

    def _compile(self, using: str) -> C:
        raise NotImplementedError


class PrecompiledQuery[M: Model](_PerAlias[_Compiled]):
    """`build(*placeholders)` compiled once per alias; `first(*values)` runs it with `values`.

    Each placeholder must come out of the field's preparation unchanged and appear among the
    compiled parameters: a unique string or integer that no other parameter equals. A value is
    passed as the database will compare it (for a digest column, the digest).
    """

    def __init__(self, build: Callable[..., QuerySet[M]], *placeholders: object) -> None:
        super().__init__()
        self._build = build
        self._placeholders = placeholders
        queryset = build(*placeholders)  # builds, without touching the database
        self.model: type[M] = queryset.model
        self._for_update = bool(queryset.query.select_for_update)

    def __repr__(self) -> str:
        return f"PrecompiledQuery({self.model.__name__}, {self._placeholders!r})"

    def queryset(self, *values: object) -> QuerySet[M]:
        """The queryset this query stands for, with `values`: for tests and for the rare caller
        that needs a queryset (for example to chain `.update()`)."""
        return self._build(*values)

    def first(self, *values: object, using: str | None = None) -> M | None:
        fetched = self.fetch(*values, using=using)
        return None if fetched is None else self.build(*fetched)

    def fetch(self, *values: object, using: str | None = None) -> tuple[str, tuple[Any, ...]] | None:
        """The database alias and the raw row `first(*values)` builds its answer from, or None.

        The row is as the database driver returned it, before Django's converters: a caller may
        keep it (apps/oauth/client_cache.py) and `build` a fresh instance from it each time."""
        if len(values) != len(self._placeholders):
            raise TypeError(f"expected {len(self._placeholders)} values, got {len(values)}")
        if using is None:
            using = (router.db_for_write if self._for_update else router.db_for_read)(self.model)
        connection = connections[using]
        compiled = self._compiled_for(using)
        if compiled.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(compiled.params)
        for position, index in compiled.slots:
            params[position] = values[index]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        return None if row is None else (using, tuple(row))

    def build(self, using: str, row: tuple[Any, ...]) -> M:
        """The instance (and its select_related instances) of a row `fetch` returned."""
        compiled = self._compiled_for(using)
        if compiled.converters:
            row = next(iter(compiled.compiler.apply_converters([row], compiled.converters)))
        instance = compiled.model.from_db(using, compiled.init_list, row[compiled.model_slice])
        for populator in compiled.related_populators:
            populator.populate(row, instance)
        return cast(M, instance)

    def _compile(self, using: str) -> _Compiled:
        queryset = self._build(*self._placeholders)
        compiler = queryset.query.chain().get_compiler(using=using)
        sql, params = compiler.as_sql()
        params = tuple(params)
        slots = tuple(
            (position, index)
            for index, placeholder in enumerate(self._placeholders)
            for position in _positions(params, placeholder)
        )
        found = {index for _, index in slots}
        if found != set(range(len(self._placeholders))):
            raise ValueError(f"placeholders not found among the compiled parameters: {params!r}")
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        fetch_mode = queryset._fetch_mode  # type: ignore[attr-defined]  # what ModelIterable passes
        return _Compiled(
            sql=sql,
            params=params,
            slots=slots,
            model=klass_info["model"],
            init_list=[column[0].target.attname for column in select[fields[0] : fields[-1] + 1]],
            model_slice=slice(fields[0], fields[-1] + 1),
            related_populators=get_related_populators(klass_info, select, using, fetch_mode),
            converters=compiler.get_converters([column[0] for column in select]),
            compiler=compiler,
            for_update=queryset.query.select_for_update,
        )


def _positions(params: Sequence[Any], placeholder: object) -> list[int]:
    return [
        position
        for position, param in enumerate(params)
        if type(param) is type(placeholder) and param == placeholder
    ]


@dataclass(frozen=True)
class _CompiledInsert:
    sql: str
    fields: list[Any]
    returning_params: Any


class PrecompiledInsert(_PerAlias[_CompiledInsert | None]):
    """`instance.save()` of a new row, with its INSERT compiled once per database alias.

    For the rows every token request writes (tokens, id_tokens, audit events). Each call computes
    the values as `Model.save()` does (`pre_save`, so `auto_now` works, then `get_db_prep_save`),
    runs the compiled INSERT and sets the new primary key from its RETURNING clause.

    It does what `save()` of a new row does only where nothing else can be involved: the model has
    no parent model, no `pre_save`/`post_save` receiver and no value computed by the database
    beyond its auto-increment key. Otherwise, or when a value is an expression, it calls `save()`.
    """

    def __init__(self, model: type[Model]) -> None:
        if model.save_base is not Model.save_base or (
            model.save is not Model.save and not getattr(model.save, PLAIN_INSERT, False)
        ):
            raise ImproperlyConfigured(
                f"{model.__name__} overrides save() or save_base(): PrecompiledInsert would skip it. "
                "Save its rows with save(), or mark a save() that adds nothing for a new row @plain_insert."
            )
        super().__init__()
        self._model = model

    def __repr__(self) -> str:
        return f"PrecompiledInsert({self._model.__name__})"

    def save(self, instance: Model, using: str | None = None) -> None:
        using = self._using(instance, using)
        params = self.params(instance, using)
        if params is None:
            instance.save(using=using, force_insert=True)
            return
        compiled = cast(_CompiledInsert, self._compiled_for(using))
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            (row,) = connection.ops.fetch_returned_rows(cursor, compiled.returning_params)
        self.saved(instance, row[0], using)

    def _using(self, instance: Model, using: str | None) -> str:
        if type(instance) is not self._model or not instance._state.adding:
            raise TypeError(f"a new {self._model.__name__} is needed")
        return using or router.db_for_write(self._model, instance=instance)

    def params(self, instance: Model, using: str) -> list[Any] | None:
        """The compiled INSERT's parameters for `instance`, or None when `save()` must write it."""
        compiled = self._compiled_for(using)
        if compiled is None or self._observed():
            return None
        connection = connections[using]
        # What save() checks first: a related object assigned unsaved is an error, not a NULL.
        instance._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
        values = [field.pre_save(instance, True) for field in compiled.fields]
        if any(hasattr(value, "resolve_expression") for value in values):
            return None
        params = [
            field.get_db_prep_save(value, connection)
            for field, value in zip(compiled.fields, values, strict=True)
        ]
        params.extend(compiled.returning_params)
        return params

    @staticmethod
    def saved(instance: Model, pk: Any, using: str) -> None:
        instance.pk = pk
        instance._state.adding = False
        instance._state.db = using

    def _observed(self) -> bool:
        return signals.pre_save.has_listeners(self._model) or signals.post_save.has_listeners(self._model)

    def _compile(self, using: str) -> _CompiledInsert | None:
        """The INSERT with every concrete field and RETURNING the key; None when save() must do it."""
        meta = self._model._meta
        connection = connections[using]
        key = meta.auto_field
        if (
            key is None
            or meta.parents
            or list(meta.db_returning_fields) != [key]
            or not connection.features.can_return_columns_from_insert
            or any(
                hasattr(field, "get_placeholder_sql") or hasattr(field, "get_placeholder")
                for field in meta.local_concrete_fields
            )
        ):
            return None
        fields = [field for field in meta.local_concrete_fields if not field.generated and field is not key]
        quote = connection.ops.quote_name
        returning, returning_params = connection.ops.returning_columns([key])
        sql = "INSERT INTO {} ({}) VALUES ({}) {}".format(  # noqa: S608 (names from model metadata)
            quote(meta.db_table),
            ", ".join(quote(str(field.column)) for field in fields),
            ", ".join(["%s"] * len(fields)),
            returning,
        )
        return _CompiledInsert(sql=sql, fields=fields, returning_params=returning_params)


class PrecompiledInserts(_PerAlias[str | None]):
    """New rows of several models written by one statement: one round trip, all or none.

    `save(a, b)` stores what `PrecompiledInsert(A).save(a)` and `PrecompiledInsert(B).save(b)`
    would, as one PostgreSQL statement of data-modifying CTEs (`WITH row0 AS (INSERT ...
    RETURNING id), row1 AS (INSERT ... RETURNING id) SELECT * FROM row0, row1`). PostgreSQL runs
    every INSERT of a WITH to completion, and a statement is atomic whether or not a transaction
    is open, so the rows are stored together or not at all, with no BEGIN or COMMIT of their own.

    Where a row cannot be written by its compiled INSERT (a receiver, an expression, another
    database than the others', a database that is not PostgreSQL), all are saved one by one in a
    transaction: the same rows, all or none, in more round trips.
    """

    def __init__(self, *models: type[Model]) -> None:
        self._inserts = [PrecompiledInsert(model) for model in models]  # each refuses save() overrides
        super().__init__()

    def __repr__(self) -> str:
        return f"PrecompiledInserts({', '.join(insert._model.__name__ for insert in self._inserts)})"

    def save(self, *instances: Model, using: str | None = None) -> None:
        if len(instances) != len(self._inserts):
            raise TypeError(f"expected {len(self._inserts)} instances, got {len(instances)}")
        pairs = list(zip(self._inserts, instances, strict=True))
        each = [insert._using(instance, using) for insert, instance in pairs]
        using = each[0]
        sql = self._compiled_for(using) if len(set(each)) == 1 else None
        params = self._params(pairs, using) if sql is not None else None
        if sql is None or params is None:
            with transaction.atomic(using=using, savepoint=False):
                for (insert, instance), alias in zip(pairs, each, strict=True):
                    insert.save(instance, using=alias)
            return
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            keys = cursor.fetchone()
        for instance, key in zip(instances, keys, strict=True):
            PrecompiledInsert.saved(instance, key, using)

    @staticmethod
    def _params(pairs: list[tuple[PrecompiledInsert, Model]], using: str) -> list[Any] | None:
        """Every row's parameters in order, or None when one of them must go through save()."""
        params: list[Any] = []
        for insert, instance in pairs:
            own = insert.params(instance, using)
            if own is None:
                return None
            params.extend(own)
        return params

    def _compile(self, using: str) -> str | None:
        if connections[using].vendor != "postgresql":
            return None
        parts = [insert._compiled_for(using) for insert in self._inserts]
        if any(part is None for part in parts):
            return None
        inserts = ", ".join(f"row{i} AS ({cast(_CompiledInsert, part).sql})" for i, part in enumerate(parts))
        return f"WITH {inserts} SELECT * FROM {', '.join(f'row{i}' for i in range(len(parts)))}"  # noqa: S608
