from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What Latch's apps share (no models): registers the shared system checks."""

    name = "apps.core"
    label = "core"
    verbose_name = "Latch core"

    def ready(self) -> None:
        from apps.core import checks  # noqa: F401  (registers the system checks)
