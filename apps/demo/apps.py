from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`manage.py load_demo`: the demo association `make run` shows. Depends on every app; none on it."""

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo data"
