from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "safetynet.policy"
    label = "policy"
