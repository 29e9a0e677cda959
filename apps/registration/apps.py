from django.apps import AppConfig


class RegistrationConfig(AppConfig):
    name = "apps.registration"
    label = "registration"
    verbose_name = "Dynamic client registration"
