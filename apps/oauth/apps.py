from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "apps.oauth"
    label = "oauth"
    verbose_name = "OAuth and OpenID Connect"

    def ready(self) -> None:
        from apps.oauth import signals  # noqa: F401  (connects the receivers)
