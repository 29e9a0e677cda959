from django.conf import settings
from django.core import checks

LOG_FORMATS = ("text", "json")


@checks.register(checks.Tags.compatibility)
def check_log_format(app_configs, **kwargs) -> list[checks.CheckMessage]:
    log_format = getattr(settings, "LOG_FORMAT", "text")
    if log_format in LOG_FORMATS:
        return []
    return [
        checks.Error(
            f"LATCH_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}; it is {log_format!r}.",
            hint="Logs are written as text until it is fixed. Set LATCH_LOG_FORMAT=json for a log collector.",
            id="latch.audit.E001",
        )
    ]
