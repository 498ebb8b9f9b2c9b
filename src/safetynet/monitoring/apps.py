from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "safetynet.monitoring"
    label = "monitoring"
    verbose_name = "monitoring"

    def ready(self):
        from django.utils.translation import gettext_lazy as _

        from safetynet.areas import scope

        # How each area-bound model reaches its village code (areas.scope is the one gate).
        scope.register("monitoring.case", "household__village__code")
        scope.register("monitoring.casefinding", "case__household__village__code")
        scope.register("monitoring.caseevent", "case__household__village__code")
        scope.register("monitoring.verification", "case__household__village__code")
        scope.register("monitoring.notice", "case__household__village__code")
        scope.register("monitoring.measure", "case__household__village__code")
        scope.register("monitoring.followup", "case__household__village__code")
        if "screening.finding" not in scope.AREA_PATHS:
            scope.register("screening.finding", "village_code")

        try:
            from safetynet.web import hooks
        except ImportError:  # the web layer is optional for the CLI
            return
        from . import panels

        staff = ("village", "township", "county", "region", "admin")
        hooks.register_nav(
            "monitoring-work", _("My work"), "monitoring:my_work", order=10,
            roles=("village", "township", "county"), icon="✅",
        )  # fmt: skip
        hooks.register_nav(
            "monitoring-warnings", _("Warnings"), "monitoring:warnings", order=20,
            roles=staff, icon="⚠️",
        )  # fmt: skip
        hooks.register_nav(
            "monitoring-cases", _("Cases"), "monitoring:cases", order=25, roles=staff, icon="📁",
        )  # fmt: skip
        hooks.register_profile_panel(
            "monitoring-cases", _("Monitoring cases"), "monitoring/_profile_cases.html",
            context=panels.profile_context, order=40, roles=staff,
        )  # fmt: skip
        hooks.register_dashboard_panel(
            "monitoring-cases", _("Monitoring cases"), "monitoring/_dashboard_cases.html",
            context=panels.dashboard_context, order=30, roles=staff,
        )  # fmt: skip
        hooks.register_timeline_source("monitoring-cases", panels.timeline_source)
