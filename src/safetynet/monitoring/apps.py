from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "safetynet.monitoring"
    label = "monitoring"
