from django.apps import AppConfig


class AreasConfig(AppConfig):
    name = "safetynet.areas"
    label = "areas"
