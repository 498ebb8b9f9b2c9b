from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "safetynet.quality"
    label = "quality"
    verbose_name = "quality"

    def ready(self):
        from django.utils.translation import gettext_lazy as _

        from safetynet.areas import scope

        scope.register("quality.rectification", "finding__village_code")
        scope.register("quality.rectificationevent", "rectification__finding__village_code")
        if "screening.finding" not in scope.AREA_PATHS:
            scope.register("screening.finding", "village_code")
        try:
            from safetynet.web import hooks
        except ImportError:
            return
        hooks.register_nav(
            "quality", _("Data quality"), "quality:findings", order=40,
            roles=("village", "township", "county", "region", "admin"), icon="🧹",
        )  # fmt: skip
