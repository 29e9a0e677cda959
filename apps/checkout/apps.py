from django.apps import AppConfig


class CheckoutConfig(AppConfig):
    name = "apps.checkout"
    label = "checkout"
    verbose_name = "Checkout"

    def ready(self) -> None:
        from apps.checkout import checks  # noqa: F401  (registers the system checks)
