from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "safetynet.reports"
    label = "reports"
