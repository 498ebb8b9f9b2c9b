from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "safetynet.core"
    label = "core"
