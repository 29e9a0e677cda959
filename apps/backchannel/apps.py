from django.apps import AppConfig


class BackchannelConfig(AppConfig):
    name = "apps.backchannel"
    label = "backchannel"
    verbose_name = "Back-channel logout"

    def ready(self) -> None:
        from apps.backchannel import signals  # noqa: F401  (connects the receivers)
