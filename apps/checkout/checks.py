from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_overdraft_limit(app_configs, **kwargs) -> list[checks.CheckMessage]:
    limit = getattr(settings, "CHECKOUT_OVERDRAFT_LIMIT_CENTS", None)
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        return []
    return [
        checks.Error(
            f"CHECKOUT_OVERDRAFT_LIMIT_CENTS must be a whole number of cents, 0 or more; it is {limit!r}.",
            hint="Set LATCH_CHECKOUT_OVERDRAFT_CENTS to e.g. 0 (no credit) or 500 (5.00 of credit).",
            id="latch.checkout.E001",
        )
    ]
