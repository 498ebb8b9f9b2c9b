from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "safetynet.screening"
    label = "screening"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from safetynet.areas.scope import register

        register("screening.finding", "village_code")
        try:
            from safetynet.web import hooks
        except ImportError:  # the web layer is optional for the command line
            return
        hooks.register_nav(
            "screening", _("Screening"), "screening:runs", order=60, roles=["county", "admin"]
        )
