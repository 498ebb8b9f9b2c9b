from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "safetynet.quality"
    label = "quality"
