from django.apps import AppConfig


class UpstreamConfig(AppConfig):
    """Upstream identity providers: signing in with them, and connected accounts whose tokens Latch keeps."""

    name = "apps.upstream"
    label = "upstream"
    verbose_name = "Upstream providers"

    def ready(self) -> None:
        from apps.upstream import checks  # noqa: F401  (registers the system checks)
