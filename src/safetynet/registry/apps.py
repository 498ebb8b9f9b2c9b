from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "safetynet.registry"
    label = "registry"
