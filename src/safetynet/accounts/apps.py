from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "safetynet.accounts"
    label = "accounts"
