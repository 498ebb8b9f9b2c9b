from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "safetynet.screening"
    label = "screening"

    def ready(self) -> None:
        from safetynet.areas.scope import register

        register("screening.finding", "village_code")
