"""System checks for what apps/core provides."""

from collections.abc import Iterable
from importlib import import_module

from django.conf import settings
from django.core import checks

from apps.core import precompiled


@checks.register(checks.Tags.database)
def check_precompiled_queries(
    app_configs=None, databases: Iterable[str] | None = None, **kwargs
) -> list[checks.CheckMessage]:
    """Compile every precompiled query and insert for each database checked (`manage.py migrate`,
    `manage.py check --database default`), so that one that cannot compile stops a deploy instead
    of failing its first request. The URLconf is imported first: every module a served URL can
    reach, and so every query it registers, is loaded then."""
    import_module(settings.ROOT_URLCONF)
    errors: list[checks.CheckMessage] = []
    for using in databases or ():
        for query in precompiled.registered():
            try:
                query.compile_for(using)
            except Exception as failure:  # any failure to compile is the finding
                errors.append(
                    checks.Error(
                        f"{query!r} does not compile for the database {using!r}: {failure}",
                        hint="Fix the queryset or its placeholders (apps/core/precompiled.py).",
                        obj=query,
                        id="latch.core.E001",
                    )
                )
    return errors
