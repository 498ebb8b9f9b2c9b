from django.apps import AppConfig


class FeedsConfig(AppConfig):
    name = "safetynet.feeds"
    label = "feeds"
