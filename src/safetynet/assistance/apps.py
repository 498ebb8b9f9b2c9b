from django.apps import AppConfig


class AssistanceConfig(AppConfig):
    name = "safetynet.assistance"
    label = "assistance"
